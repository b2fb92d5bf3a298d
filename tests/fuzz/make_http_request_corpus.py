#!/usr/bin/env python3
"""Writes the seed corpus of the HTTP/1.1 request-framing fuzz target
(tests/fuzz/corpus/http_request/): the raw requests that tests/hostile/hostile_test.py sends,
with a stand-in API key. Each file is one byte stream as a client sent it. Run from any
directory; files are rewritten in place (hostile_test.py's CorpusTest fails when they are stale).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'hostile'))

sys.dont_write_bytecode = True  # no __pycache__ beside the test
import hostile_test  # noqa: E402  (the requests are defined once, there)

OUT = os.path.join(HERE, 'corpus', 'http_request')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(hostile_test.corpus_inputs().items()):
        assert len(data) < 100 * 1024, name
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
