"""segserve reference trainer: see training/README.md."""
