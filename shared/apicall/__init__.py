"""apicall: the layer shared by the request, push and fetch functions."""
