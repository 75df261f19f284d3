from litegate.sse import SSEDecoder


def test_events_split_anywhere():
    stream = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n: comment\n\nevent: ping\ndata: x\ndata: y\n\ndata: [DONE]\n\n'
    for size in (1, 3, 7, len(stream)):
        decoder = SSEDecoder()
        events = []
        for start in range(0, len(stream), size):
            events += decoder.feed(stream[start : start + size])
        events += decoder.flush()
        assert events == [
            (None, b'{"a":1}'),
            (None, b'{"b":2}'),
            (b"ping", b"x\ny"),
            (None, b"[DONE]"),
        ]


def test_flush_returns_an_unterminated_last_event():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [(None, b"tail")]
