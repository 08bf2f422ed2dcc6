"""The use cases: run (and resume) a fleet audit, re-render or compare stored runs, check
endpoints, inspect files. Each takes one typed settings object and returns a typed outcome;
nothing here knows the command line, prints or exits, so an audit can be driven from any
caller (the CLI, a shard runner, a merge step, a test).
"""
