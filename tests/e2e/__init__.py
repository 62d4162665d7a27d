"""End-to-end tests on the local test bed, and what they need (traffic)."""
