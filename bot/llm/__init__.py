"""The foundation model: the streaming client and how an answer is generated."""
