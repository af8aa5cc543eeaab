"""`python -m bench` runs every benchmark and prints its figures."""

from bench import caller_cost, tool_latency, turn_overhead

if __name__ == "__main__":
    tool_latency.main()
    turn_overhead.main()
    caller_cost.main()
