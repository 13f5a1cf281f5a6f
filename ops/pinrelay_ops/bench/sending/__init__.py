"""The sends scenario's parts: the variants it runs (pinrelay, naive) and its goals."""
