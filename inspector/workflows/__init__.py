"""What a command does end to end (compare, demo), as library functions that return data."""
