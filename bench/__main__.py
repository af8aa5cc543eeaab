"""`python -m bench` runs every benchmark and prints its figures."""

from bench import tool_latency

if __name__ == "__main__":
    tool_latency.main()
