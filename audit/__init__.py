"""certaudit: agentless fleet audit of TLS certificates."""
