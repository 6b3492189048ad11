"""Local infrastructure for development and tests: a Kafka broker and a standalone Flink cluster on loopback."""
