"""audit.inventory.files: files and directories on disk, scripts refused, group_vars/ and
host_vars/.

Inventories are given as text to loads_inventory or written into tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from audit.errors import InventoryError
from audit.inventory import load_inventory
from tests.inventory.helpers import by_name, names, warned, write


def test_empty_path_is_not_the_current_directory() -> None:
    with pytest.raises(InventoryError, match="no inventory path given"):
        load_inventory("")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path / "nope.ini")
    assert err.value.path == str(tmp_path / "nope.ini") and "not found" in str(err.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "hosts.ini", "h\n", mode=0o000)
    real_open = os.open

    def deny(file: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)  # root would read it whatever its mode
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.path == str(path) and "permission denied" in str(err.value)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "hosts"
    os.mkfifo(fifo)
    with pytest.raises(InventoryError, match="not a regular file"):
        load_inventory(fifo)


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"", None, "defines no hosts"),
        (b"# only comments\n\n[web]\n[web:vars]\nx=1\n", None, "defines no hosts"),
        (b"a\nb\n\xff\xfe\n", 3, "not valid UTF-8"),
        (b"a\n\x00\x01", 2, "NUL"),
    ],
)
def test_bad_files(tmp_path: Path, data: bytes, line: int | None, message: str) -> None:
    path = tmp_path / "hosts.ini"
    path.write_bytes(data)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in str(err.value)


def test_empty_yaml_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="defines no hosts"):
        load_inventory(write(tmp_path, "hosts.yml", "---\n# nothing\n"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InventoryError, match="defines no hosts"):
        load_inventory(tmp_path / "empty")


@pytest.mark.parametrize(
    ("name", "text", "mode"),
    [
        ("inventory.py", "print('{}')\n", 0o644),
        ("dynamic", "#!/bin/sh\necho '{}'\n", 0o755),
        ("dynamic.ini", "#!/bin/sh\ntouch pwned\n", 0o644),
        ("hosts", "web1\n", 0o755),
    ],
)
def test_dynamic_inventory_script_is_refused_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, mode: int
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, name, text, mode=mode)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.path == str(path)
    assert "scripts are never executed" in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_executable_static_file_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "web1\n", mode=0o755)
    inv = load_inventory(path)
    assert names(inv) == ["web1"]
    assert warned(inv, str(path), "executable", "never run")


def test_vault_encrypted_inventory_file(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", "$ANSIBLE_VAULT;1.1;AES256\n616263\n")
    with pytest.raises(InventoryError, match="vault-encrypted"):
        load_inventory(path)


def test_format_is_sniffed_without_extension(tmp_path: Path) -> None:
    assert names(load_inventory(write(tmp_path, "a/hosts", "all:\n  hosts:\n    y1:\n"))) == ["y1"]
    assert names(load_inventory(write(tmp_path, "b/hosts", "[g]\ni1:2222\n"))) == ["i1"]


def test_group_vars_and_host_vars_files(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/all.yml", "ansible_user: gv_all\n")
    write(tmp_path, "group_vars/web/10-main.yml", "ansible_port: 2022\n")
    write(tmp_path, "group_vars/web/20-tls.yaml", "certaudit_tls_ports: [443]\n")
    write(tmp_path, "group_vars/web.yml", "ansible_port: 9999\n")  # the directory wins
    write(tmp_path, "group_vars/db", "certaudit_tls_names: [db.example.com]\n")
    write(tmp_path, "group_vars/unknown.yml", "ansible_port: [not, read]\n")
    write(tmp_path, "host_vars/w2.yml", "ansible_user: hv_w2\nansible_port: 2\n")
    write(tmp_path, "host_vars/w1.yaml", "---\n")
    write(tmp_path, "group_vars/db.yml.bak", "nonsense: [\n")
    path = write(
        tmp_path,
        "hosts.ini",
        "[web]\nw1 ansible_port=1\nw2 ansible_user=inline\n[db]\nd1\n"
        "[web:vars]\nansible_user=inventory_web\n",
    )
    hosts = by_name(load_inventory(path))
    # group_vars/all beats [web:vars] written in the inventory, as in Ansible.
    assert (hosts["w1"].user, hosts["w1"].port, hosts["w1"].tls_ports) == ("gv_all", 1, (443,))
    assert (hosts["w2"].user, hosts["w2"].port) == ("hv_w2", 2)
    assert (hosts["d1"].user, hosts["d1"].tls_names) == ("gv_all", ("db.example.com",))
    inv = load_inventory(path)
    assert warned(inv, "host w1 has conflicting", "inventory_web", "gv_all")


def test_vars_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/web.yml", "ansible_user: ok\nansible_port: nope\n")
    path = write(tmp_path, "hosts.ini", "[web]\nw1\n")
    (bad,) = load_inventory(path).unusable
    where = os.path.join(str(tmp_path), "group_vars", "web.yml")
    assert bad.reason.startswith(f"{where}:2: ansible_port: 'nope' is not a port number")
    write(tmp_path, "group_vars/web.yml", "- a\n")
    with pytest.raises(InventoryError, match="mapping of variable names"):
        load_inventory(path)


def test_vault_encrypted_vars_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "group_vars/all/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n3132\n")
    inv = load_inventory(write(tmp_path, "hosts.ini", "h\n"))
    assert warned(inv, "vault.yml", "vault-encrypted")


def test_inventory_directory(tmp_path: Path) -> None:
    inv_dir = tmp_path / "prod"
    write(inv_dir, "10-web.ini", "[web]\nw1\nw2\n")
    write(inv_dir, "20-db.yml", "all:\n  children:\n    db:\n      hosts:\n        d1:\n")
    write(inv_dir, "30-more/hosts", "[web]\nw3\n[prod:children]\nweb\ndb\n")
    write(inv_dir, ".hidden.ini", "hidden\n")
    write(inv_dir, "README.md", "# not an inventory\n")
    write(inv_dir, "hosts.ini~", "backup\n")
    write(inv_dir, "ec2.py", "print('{}')\n")
    write(inv_dir, "script", "#!/bin/sh\ntouch pwned\n", mode=0o755)
    write(inv_dir, "group_vars/web.yml", "ansible_port: 2222\n")
    write(inv_dir, "host_vars/d1.yml", "ansible_user: dba\n")
    inv = load_inventory(inv_dir)
    assert names(inv) == ["w1", "w2", "d1", "w3"]
    hosts = by_name(inv)
    assert hosts["w3"].port == 2222 and hosts["w3"].groups == ("web", "prod")
    assert hosts["d1"].user == "dba" and hosts["d1"].groups == ("db", "prod")
    assert hosts["w1"].source == os.path.join(str(inv_dir), "10-web.ini") + ":2"
    assert warned(inv, "ec2.py", "skipped", "never executed")
    assert warned(inv, "script", "skipped", "never executed")
    assert not (inv_dir / "pwned").exists()
    assert not any("hidden" in w or "README" in w for w in inv.warnings)


def test_directory_with_a_bad_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.ini", "h1\n")
    write(tmp_path, "b.ini", "[web\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path)
    assert (err.value.path, err.value.line) == (os.path.join(str(tmp_path), "b.ini"), 1)


def test_a_yaml_named_file_with_ini_text_is_read_as_ini(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.yml", "[web]\nw1 ansible_port=2201\n"))
    assert [(h.name, h.port, h.groups) for h in inv.hosts] == [("w1", 2201, ("web",))]
    with pytest.raises(InventoryError, match=r"hosts2\.yml:3: YAML: "):
        load_inventory(write(tmp_path, "hosts2.yml", "all:\n  hosts: [a\n"))


def test_a_file_no_reading_takes_shows_the_error_of_the_format_it_looks_like(
    tmp_path: Path,
) -> None:
    write(tmp_path, "inv/10-web", "[web]\nw1\n")
    write(tmp_path, "inv/20-odd", "w2 ansible_port=2202\n")  # YAML text, but no mapping
    inv = load_inventory(tmp_path / "inv")
    assert [(h.name, h.port) for h in inv.hosts] == [("w1", None), ("w2", 2202)]
    write(tmp_path, "inv/30-bad", "web:\n  hosts:\n    w9:\nbad:\n  hosts: [x]\n")
    with pytest.raises(InventoryError, match=r"30-bad:5: hosts of group 'bad' must be a mapping"):
        load_inventory(tmp_path / "inv")


def test_inventory_plugin_configuration_is_never_run(tmp_path: Path) -> None:
    path = write(tmp_path, "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    with pytest.raises(InventoryError, match="inventory plugins are never run"):
        load_inventory(path)
    write(tmp_path, "static", "[web]\nw1\n")
    inv = load_inventory(tmp_path)
    assert names(inv) == ["w1"]
    assert warned(inv, "aws_ec2.yml", "skipped", "inventory plugins are never run")
