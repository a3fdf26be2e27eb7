/*
 * host.h - the interface between the proxy-wasm layer (hostcalls/) and "the host".
 *
 * The layer knows nothing of sockets, threads or event loops. Whatever it needs from the
 * proxy (the stream's headers and bodies, sending a local reply, resuming a paused
 * stream, starting an HTTP callout, arming a timer, waking a queue consumer on its own
 * thread, connection facts for properties, logging, the clock) it asks through one
 * struct of function pointers, struct pw_host_ops. The daemon (src/) implements it for
 * live traffic; `wasp replay` (src/replay/) implements it for recorded traffic; the unit
 * tests implement a fake one. This header also holds the data types both sides share:
 * status codes and enums of the ABI, header maps (struct pw_map) and byte buffers
 * (struct pw_buf), with the helpers to build and edit them.
 */
#ifndef WASP_HOSTCALLS_HOST_H
#define WASP_HOSTCALLS_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pw_vm;
struct pw_root;
struct pw_stream;

/* ---- ABI enums (values are the wire values of ABI.md §4) ------------------------ */

enum pw_status {
    PW_OK = 0,
    PW_NOT_FOUND = 1,
    PW_BAD_ARGUMENT = 2,
    PW_SERIALIZATION_FAILURE = 3,
    PW_PARSE_FAILURE = 4,
    PW_INVALID_MEMORY_ACCESS = 6,
    PW_EMPTY = 7,
    PW_CAS_MISMATCH = 8,
    PW_INTERNAL_FAILURE = 10,
    PW_BROKEN_CONNECTION = 11,
    PW_UNIMPLEMENTED = 12,
};

/* The spec's name of a status ("OK", "BAD_ARGUMENT", ...), or "UNKNOWN". */
const char *pw_status_name(enum pw_status st);

enum pw_log_level {
    PW_LOG_TRACE = 0,
    PW_LOG_DEBUG = 1,
    PW_LOG_INFO = 2,
    PW_LOG_WARN = 3,
    PW_LOG_ERROR = 4,
    PW_LOG_CRITICAL = 5,
};

enum pw_map_type {
    PW_MAP_REQUEST_HEADERS = 0,
    PW_MAP_REQUEST_TRAILERS = 1,
    PW_MAP_RESPONSE_HEADERS = 2,
    PW_MAP_RESPONSE_TRAILERS = 3,
    PW_MAP_GRPC_INITIAL_METADATA = 4,
    PW_MAP_GRPC_TRAILING_METADATA = 5,
    PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
};

enum pw_buffer_type {
    PW_BUFFER_REQUEST_BODY = 0,
    PW_BUFFER_RESPONSE_BODY = 1,
    PW_BUFFER_DOWNSTREAM_DATA = 2,
    PW_BUFFER_UPSTREAM_DATA = 3,
    PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    PW_BUFFER_GRPC_RECEIVE = 5,
    PW_BUFFER_VM_CONFIGURATION = 6,
    PW_BUFFER_PLUGIN_CONFIGURATION = 7,
    PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
};

enum pw_stream_type {
    PW_STREAM_REQUEST = 0,
    PW_STREAM_RESPONSE = 1,
    PW_STREAM_DOWNSTREAM = 2,
    PW_STREAM_UPSTREAM = 3,
};

enum pw_metric_type {
    PW_METRIC_COUNTER = 0,
    PW_METRIC_GAUGE = 1,
    PW_METRIC_HISTOGRAM = 2,
};

/* ---- Header maps ---------------------------------------------------------------- */

/* One header field. Key and value are NUL-terminated copies owned by the map. */
struct pw_header {
    char *key;
    char *value;
    uint32_t key_len;
    uint32_t value_len;
};

/*
 * An ordered list of header fields (duplicates allowed, keys lower-cased on insertion).
 * HTTP/2 pseudo-headers (:method, :path, :authority, :scheme, :status) are ordinary keys.
 * Zero-initialised ({0}) is an empty map. Not thread-safe: one stream's maps are used by
 * one thread.
 */
struct pw_map {
    struct pw_header *items;
    uint32_t count;
    uint32_t cap;
};

/* Limits when parsing a guest's serialized map (as cpp-host's). */
#define PW_MAP_MAX_PAIRS 1024u
#define PW_MAP_MAX_BYTES (1u << 20)

void pw_map_free(struct pw_map *m);
void pw_map_clear(struct pw_map *m);
/* Appends a field (key lower-cased). Returns 0, or -1 when out of memory. */
int pw_map_add(struct pw_map *m, const char *key, size_t key_len, const char *value,
               size_t value_len);
/* Sets key to value: replaces the first field with that key and removes the others, or
 * appends. Returns 0 or -1 (out of memory). */
int pw_map_replace(struct pw_map *m, const char *key, size_t key_len, const char *value,
                   size_t value_len);
/* Removes every field with that key (case-insensitive). Returns how many were removed. */
uint32_t pw_map_remove(struct pw_map *m, const char *key, size_t key_len);
/* The first field with that key (case-insensitive), or NULL. */
const struct pw_header *pw_map_get(const struct pw_map *m, const char *key, size_t key_len);
/* Convenience for NUL-terminated keys; returns the value or NULL. */
const char *pw_map_value(const struct pw_map *m, const char *key);
/* Deep copy of src into dst (dst's old fields are freed). Returns 0 or -1. */
int pw_map_copy(struct pw_map *dst, const struct pw_map *src);

/* Size in bytes of the pairs encoding of m (ABI.md §5.1). */
size_t pw_map_serialized_size(const struct pw_map *m);
/* Writes the pairs encoding into out, which has pw_map_serialized_size(m) bytes. */
void pw_map_serialize(const struct pw_map *m, uint8_t *out);
/*
 * Parses a pairs encoding into out (cleared first). size 0 and the 1-byte "\0" buffer are
 * the empty map. Returns PW_OK, or PW_BAD_ARGUMENT when the bytes are malformed (bad
 * counts, missing NULs, trailing bytes, over PW_MAP_MAX_*) — then out is left empty.
 */
enum pw_status pw_map_parse(const uint8_t *data, size_t size, struct pw_map *out);

/* ---- Byte buffers --------------------------------------------------------------- */

/* A growable byte buffer; {0} is empty. */
struct pw_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void pw_buf_free(struct pw_buf *b);
/* Appends len bytes. Returns 0 or -1 (out of memory). */
int pw_buf_append(struct pw_buf *b, const void *data, size_t len);
/* Replaces the contents. Returns 0 or -1. */
int pw_buf_set(struct pw_buf *b, const void *data, size_t len);
/*
 * Replaces [start, start + size) with data (size clamped to the end; start past the end
 * appends): start 0/size 0 prepends, start >= len appends, start 0/size >= len replaces,
 * anything else splices. Returns 0 or -1 (out of memory).
 */
int pw_buf_splice(struct pw_buf *b, size_t start, size_t size, const void *data, size_t len);

/* ---- Maps and buffers the host owns --------------------------------------------- */

/* One field of a map as the layer reads it. Not NUL-terminated; valid until the map
 * changes. */
struct pw_field {
    const char *key;
    const char *value;
    size_t key_len;
    size_t value_len;
};

/*
 * Operations on a header map the host owns (a stream's headers or trailers). The layer
 * reads and edits the host's own representation through them, so a plugin callback costs
 * no copy of the map. Keys given to add/replace are lower case (the layer lowers them);
 * lookups compare ASCII case-insensitively. add/replace return 0, -1 when out of memory
 * (the plugin gets INTERNAL_FAILURE) or -2 when the host refuses the value (e.g. a
 * :status that is not a number; BAD_ARGUMENT).
 */
struct pw_map_ops {
    uint32_t (*count)(void *map);
    /* Field i, 0 <= i < count. */
    void (*field)(void *map, uint32_t i, struct pw_field *f);
    /* The first value of key, or NULL; *value_len gets its length. */
    const char *(*get)(void *map, const char *key, size_t key_len, size_t *value_len);
    int (*add)(void *map, const char *key, size_t key_len, const char *value, size_t value_len);
    /* Sets key to value: replaces the first field with that key and removes the others,
     * or appends. */
    int (*replace)(void *map, const char *key, size_t key_len, const char *value, size_t value_len);
    /* Removes every field with that key. */
    void (*remove)(void *map, const char *key, size_t key_len);
    /* Removes every field the plugin may remove (a host may keep fields it cannot do
     * without, e.g. pseudo-headers, which a following add/replace then overwrites). */
    void (*clear)(void *map);
};

/* A host map: its operations and the map itself. */
struct pw_map_ref {
    const struct pw_map_ops *ops;
    void *map;
};

/* struct pw_map behind struct pw_map_ops (map: the struct pw_map *). */
extern const struct pw_map_ops pw_map_plain_ops;

/* Operations on a byte buffer the host owns (a stream's body or data). */
struct pw_buffer_ops {
    size_t (*length)(void *buf);
    /* Copies min(len, length - start) bytes from offset start into dst; returns them. */
    size_t (*copy)(void *buf, size_t start, size_t len, void *dst);
    /* As pw_buf_splice(). Returns 0 or -1 (out of memory). */
    int (*splice)(void *buf, size_t start, size_t size, const void *data, size_t len);
};

struct pw_buffer_ref {
    const struct pw_buffer_ops *ops;
    void *buf;
};

/* struct pw_buf behind struct pw_buffer_ops (buf: the struct pw_buf *). */
extern const struct pw_buffer_ops pw_buf_plain_ops;

/* ---- What the host provides ----------------------------------------------------- */

/* Facts about a stream's connection, for properties (source.*, destination.*, ...).
 * Strings may be NULL (the property is then NOT_FOUND). */
struct pw_stream_info {
    const char *source_address; /* "ip:port" as Envoy's source.address */
    uint32_t source_port;
    const char *destination_address; /* "ip:port" */
    uint32_t destination_port;
    uint64_t connection_id;
    bool tls; /* connection.tls_version set when true */
    bool mtls;
    const char *tls_version; /* "TLSv1.3" */
    const char *requested_server_name;
    const char *protocol;              /* "HTTP/1.1", "HTTP/2" */
    uint64_t request_time_ns;          /* wall clock at the first request byte, ns since epoch */
    uint64_t request_duration_ns;      /* request.duration, when has_request_duration */
    bool has_request_duration;         /* the request is complete (its duration is known) */
    uint64_t request_size;             /* body bytes so far (request.size); request.total_size
                                          adds the header and trailer bytes */
    uint64_t response_size;            /* likewise for the response */
    const char *response_code_details; /* response.code_details ("via_upstream", a local
                                          reply's details), or NULL */
    const char *upstream_address;      /* "ip:port" of the upstream host, if connected */
    uint32_t upstream_port;
    const char *request_id; /* x-request-id, or NULL to read the header */
};

/* A local reply requested by the plugin (proxy_send_local_response). */
struct pw_local_response {
    uint32_t status_code;
    const char *details; /* response.code_details */
    size_t details_len;
    const uint8_t *body;
    size_t body_len;
    const struct pw_map *headers;
    int32_t grpc_status; /* -1: none */
};

/* An HTTP callout requested by the plugin (proxy_http_call); headers have :method,
 * :path and :authority (the layer checked). */
struct pw_http_call {
    const char *upstream; /* NUL-terminated cluster/upstream name */
    const struct pw_map *headers;
    const uint8_t *body;
    size_t body_len;
    const struct pw_map *trailers;
    uint32_t timeout_ms; /* 0: no timeout; never above INT32_MAX (refused by the layer) */
};

/* The answer to a callout, handed to pw_root_http_call_response(). */
struct pw_http_response {
    struct pw_map headers; /* includes :status */
    struct pw_buf body;
    struct pw_map trailers;
};

/*
 * One proxy_* hostcall, as reported to pw_host_ops.trace when pw_vm_config.trace is set:
 * once per call, after it returns. Strings from guest memory are shown escaped (quotes,
 * backslashes, \n, \xNN) and cut after a bounded length, with the full size; pairs as
 * {"key": "value", ...}; map, buffer, stream and metric types and log levels by name
 * (request_headers, http_call_response_body, ...); a bad guest range as
 * <invalid PTR+LEN>. Everything is valid during the call only.
 */
struct pw_trace {
    const char *plugin;    /* the effective context's plugin (the VM's name before any) */
    uint32_t context_id;   /* the effective context at the call; 0 in the start sequence */
    void *stream;          /* its host stream (pw_stream_new), or NULL for a root context */
    const char *hostcall;  /* the import name, "proxy_http_call" */
    const char *args;      /* `upstream="authz", headers={":method": "GET"}, timeout_ms=-1` */
    const char *results;   /* out-values when the status is OK (`token=4`), else "" */
    enum pw_status status; /* what the guest got */
    bool trapped;          /* the hostcall stopped the guest instead (status meaningless) */
};

/*
 * The host interface. `host` is the pointer given to pw_vm_new(); `stream` is the one
 * given to pw_stream_new(). Every member may be NULL, meaning "not available": the layer
 * then answers the guest as a host without that feature would (NOT_FOUND, UNIMPLEMENTED).
 *
 * Re-entrancy: the members marked [in hostcall] are called while the guest is running
 * (from inside a hostcall); they must not call back into the layer for the same VM
 * (no pw_stream_* / pw_root_* / pw_vm_*): record and act later. The members marked
 * [after callback] are called once the callback that requested them has returned; the VM
 * is idle then and they may call back into the layer (e.g. run the response callbacks of
 * a local reply, or resume the chain).
 */
struct pw_host_ops {
    /*
     * [in hostcall] The stream's header/trailer map of that type (maps 0-3): fills *out
     * and returns true, or returns false when it does not exist in this phase (e.g.
     * response headers during the request). *writable is preset to true; set it to false
     * when the map may no longer change (already sent). The map stays owned by the host;
     * the layer reads and edits it in place through out->ops.
     */
    bool (*stream_map)(void *host, void *stream, enum pw_map_type type, struct pw_map_ref *out,
                       bool *writable);
    /*
     * [in hostcall] The stream's body buffer (request/response body, downstream/upstream
     * data) as currently buffered for the callback: fills *out and returns true, or
     * false when there is none. *end_of_stream tells whether it holds the last byte;
     * *writable as for stream_map.
     */
    bool (*stream_buffer)(void *host, void *stream, enum pw_buffer_type type,
                          struct pw_buffer_ref *out, bool *end_of_stream, bool *writable);
    /* [in hostcall] Connection facts for properties, or NULL. */
    const struct pw_stream_info *(*stream_info)(void *host, void *stream);

    /* [after callback] proxy_continue_stream / proxy_continue_request / _response. */
    void (*continue_stream)(void *host, void *stream, enum pw_stream_type type);
    /* [after callback] proxy_close_stream: reset the stream. */
    void (*close_stream)(void *host, void *stream, enum pw_stream_type type);
    /* [after callback] proxy_send_local_response: reply instead of the upstream. The
     * host runs the response callbacks of the chain on the reply (Envoy's behaviour). */
    void (*send_local_response)(void *host, void *stream, const struct pw_local_response *r);

    /*
     * [in hostcall] Starts a callout for root; its answer is given later, on this VM's
     * thread and outside any callback, with pw_root_http_call_response(root, token, ...).
     * Returns PW_OK, PW_BAD_ARGUMENT (unknown upstream) or PW_INTERNAL_FAILURE.
     */
    enum pw_status (*http_call)(void *host, struct pw_root *root, uint32_t token,
                                const struct pw_http_call *call);
    /* [in hostcall or any time] The callout token of root is abandoned: never answer it. */
    void (*cancel_http_call)(void *host, struct pw_root *root, uint32_t token);
    /* [in hostcall] Call pw_root_tick(root) every period_ms from now on (0: stop). */
    void (*set_tick_period)(void *host, struct pw_root *root, uint32_t period_ms);
    /*
     * [any thread] A queue registered by vm (root context root_context_id) has data.
     * May be called from another worker's thread (whoever enqueued), with no layer lock
     * held. The host must arrange pw_vm_queue_ready(vm, root_context_id, queue_id) to run
     * on vm's own thread, outside any callback; it must drop the wake-up if it freed vm
     * in between.
     */
    void (*post_queue_ready)(void *host, struct pw_vm *vm, uint32_t root_context_id,
                             uint32_t queue_id);
    /*
     * [in hostcall] Properties the layer does not know itself, for vm (whose configuration
     * the host may take them from). path is the segments joined by NUL (no trailing
     * NUL). Fill out and return PW_OK, or PW_NOT_FOUND. stream is NULL for root contexts.
     */
    enum pw_status (*get_property)(void *host, struct pw_vm *vm, void *stream, const char *path,
                                   size_t path_len, struct pw_buf *out);

    /*
     * [in hostcall] One log line of a plugin, already formatted as Envoy does:
     * "wasm log <plugin> <root_id> <vm_id>: <message>" (no newline). Also receives the
     * plugin's WASI stdout (info) / stderr (error) and the layer's failure reports.
     */
    void (*log)(void *host, enum pw_log_level level, const char *line, size_t len);
    /* [in hostcall] The minimum level the host will print (proxy_get_log_level). */
    enum pw_log_level (*log_level)(void *host);
    /* [in hostcall] Clock, ns: realtime since the epoch, or monotonic. */
    uint64_t (*clock_ns)(void *host, bool monotonic);

    /*
     * [after callback, or in pw_root_free/pw_vm_free] Root context root has ended (after
     * its proxy_on_delete) and is freed when this returns: forget it (no more
     * pw_root_tick or pw_root_http_call_response on it). Called for every root, whether
     * it ended through pw_root_shutdown, proxy_done, pw_root_free or pw_vm_free.
     */
    void (*root_deleted)(void *host, struct pw_root *root);

    /*
     * [after callback] A callback trapped: the VM is marked failed (pw_vm_failed()) and
     * the caller applies the plugin's failure policy. The same report also goes to log.
     * callback is the export name ("proxy_on_request_headers"), reason the trap text,
     * backtrace the guest frames, one per line (may be empty).
     */
    void (*vm_failed)(void *host, struct pw_vm *vm, const char *plugin, const char *callback,
                      const char *reason, const char *backtrace);

    /*
     * [in hostcall] Whether the host has an upstream (cluster) of that name for vm (the
     * VM making the call: a host may serve VMs of several configurations at once), for
     * proxy_http_call and proxy_grpc_call/_stream (name is NUL-terminated, never empty).
     * NULL: the layer cannot tell; http_call then leaves it to the host's http_call, and
     * gRPC (no host offers it yet) answers as for an unknown cluster.
     */
    bool (*upstream_exists)(void *host, struct pw_vm *vm, const char *name);

    /*
     * [in hostcall] With pw_vm_config.trace: one hostcall made by a plugin (see struct
     * pw_trace). NULL: the same report goes to log as a TRACE line of the plugin,
     * "hostcall NAME(ARGS) -> STATUS RESULTS". Without pw_vm_config.trace nothing is
     * traced and the hostcalls run with no tracing cost.
     */
    void (*trace)(void *host, const struct pw_trace *t);
};

#endif /* WASP_HOSTCALLS_HOST_H */
