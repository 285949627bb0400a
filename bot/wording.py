"""What users read when something goes wrong: plain sentences, no internals."""

MODEL_FAILED = "Sorry, I couldn't get an answer from the language model just now. Please try again in a moment."
MODEL_TIMED_OUT = "Sorry, the language model took too long to answer. Please try again in a moment."
STORE_FAILED = "Sorry, I can't answer right now because my conversation memory is unavailable. Please try again in a minute."
INTERNAL_FAILURE = "Sorry, something went wrong on my side while answering. Please try again."
INTERRUPTED = "Sorry, I was restarted before I could finish this answer. Please ask again."
EMPTY_MESSAGE = "It looks like your message was empty. What would you like to ask?"
WORKING = "Working on it…"
