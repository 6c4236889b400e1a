"""Fan-out delivery: the worker, one attempt, the retry schedule, and the SSRF guard of outbound connections."""
