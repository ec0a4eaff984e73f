"""What one serving process holds: its services and lifecycle, and its worker processes."""
