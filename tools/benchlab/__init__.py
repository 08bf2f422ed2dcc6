"""Helpers of `tools/bench_fleet.py` (`make bench` at fleet scale).

fleet.py     one sshd + nginx in a private network, mount and PID namespace; N hosts are
             N loopback aliases of it (127.0.1.1, 127.0.1.2, ...)
measure.py   run a command inside that network namespace: wall time, rusage of the whole
             process tree (wait4), CPU of the host side (cgroup), CPU of everything else
floor.py     the bare floor: asyncssh + cat + cryptography's PEM loader + TLS handshakes
ansible.py   ansible-core in a bench-only virtual environment, and its ad-hoc collection
render_times.py  per-renderer timings of a stored run (audit.report, in process)
"""
