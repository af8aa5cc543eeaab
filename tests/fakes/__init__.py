"""Local stand-ins for external services, written for the tests (see ``openai_server``)."""
