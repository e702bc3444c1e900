"""Foundation shared by every layer: errors, naming helpers, units. Imports nothing above it."""
