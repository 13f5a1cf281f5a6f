"""The delivery report: what the records say, counted (summary), and shown (text, html)."""
