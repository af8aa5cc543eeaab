"""`python -m bench` runs the benchmarks of `make bench` and prints their figures: the tool server under a Node load
generator (bench.server), a chat turn's overhead, the cost of resolving the caller."""

from bench import caller_cost, server, turn_overhead

if __name__ == "__main__":
    server.main()
    turn_overhead.main()
    caller_cost.main()
