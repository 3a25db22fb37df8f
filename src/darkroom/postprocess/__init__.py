"""What happens to pixels after the engine: encoding and usage figures."""
