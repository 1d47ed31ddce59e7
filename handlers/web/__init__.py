"""The dashboard's neutral web layer: requests, responses, the page registry and dispatcher."""
