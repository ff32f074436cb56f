"""What the load checks send and hold `loupe serve` to: its documented limits, the model, the texts, a predict body."""

# The server's documented defaults (README "Limits", `ServerConfiguration`): the checks hold it to them.
MAX_BODY = 1 << 20  # --max-body
IDLE_TIMEOUT = 10  # s: a request's head must arrive within it of connecting or of the last response
REQUEST_TIMEOUT = 20  # s: a request's body must arrive within it of its head
LINGER = 2  # s: after a 413 / 408 the server keeps reading (and discarding) this long, then closes
MAX_CONNECTIONS = 512  # open connections served at once; more wait in the listen backlog
ACCEPT_BATCH = 4  # swift-nio's default maxMessagesPerRead: connections one read of the listening socket accepts
MODEL = "bert-tiny"
TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is thin and the jokes fall flat .",
         "an utterly charming and hilarious film that reminded me why i love movies .",
         "it 's a bad sign when you 're rooting for the villain to finish off the heroes ."]


def predict_body(text, ident):
    return {"model": MODEL, "examples": [{"id": ident, "text": text}]}
