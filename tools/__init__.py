"""Developer tools: `make demo`, `make bench`, `make docs`. Not shipped, not tests."""
