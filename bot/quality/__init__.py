"""Quality between releases: each answer's cost and latency, judge scores of sampled live
answers (online evaluation), and the report that sets them beside ratings per prompt version,
model and experiment variant."""
