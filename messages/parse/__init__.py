"""Platform formats read back into the neutral markup (the bridge relays what people wrote)."""
