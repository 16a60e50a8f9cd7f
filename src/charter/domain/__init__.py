"""The model and the rules of Charter. Pure: no I/O, no HTTP, no SQL."""
