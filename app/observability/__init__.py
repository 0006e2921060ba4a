"""What an operator watches: the Prometheus metrics and the log lines' format, for every layer."""
