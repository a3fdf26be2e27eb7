/*
 * stream_int.h - what the files of src/stream/ share and nothing else includes.
 */
#ifndef WASP_STREAM_STREAM_INT_H
#define WASP_STREAM_STREAM_INT_H

#include "stream/stream.h"

/*
 * The request gate (gate.c): the runner's request sink. The request head, body pieces
 * and trailers that passed every filter come here instead of going straight to the
 * upstream side; the gate holds, re-frames, forwards or resets (see stream.h).
 * Called from the runner only; may end the stream (local reply or reset).
 */
void stream_gate_headers(struct stream *s, bool eos);
/* chunk is drained (forwarded or held) by the call. */
void stream_gate_body(struct stream *s, struct evbuffer *chunk, bool eos);
void stream_gate_trailers(struct stream *s);

#endif
