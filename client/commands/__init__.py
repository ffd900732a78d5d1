"""One module per ``hushroom`` subcommand (see client.cli)."""
