"""The neutral core: typed ids and events, the command grammar, the router and the dispatcher."""
