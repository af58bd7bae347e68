"""Plugins that misbehave on purpose; genproto must contain every one of them."""
