// callout: the SDK's own callout helper, RootContext.httpCall, which registers the
// answer's callback only when the host says OK. On request headers it calls the upstream
// named by its configuration (GET /check) and pauses the request until the answer; the
// callback logs the answer's status and lets the request go on. When the host refuses
// the call (an upstream it does not have: BAD_ARGUMENT, at once, as Envoy), it logs the
// result and answers 503 itself, so nothing waits for a callback that will never come.
// Root id "callout".
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, log, LogLevelValues, Headers, HeaderPair, WasmResultValues,
  GrpcStatusValues
} from "@solo-io/proxy-runtime";

class CalloutRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Callout(context_id, this);
  }
}

function answered(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  const status = stream_context.headers.http_callback.get(":status");
  log(LogLevelValues.info, "callout answered: " + headers.toString() + " headers, status " + status);
  origin.continueRequest();
}

function pair(k: string, v: string): HeaderPair {
  return new HeaderPair(String.UTF8.encode(k), String.UTF8.encode(v));
}

class Callout extends Context {
  constructor(context_id: u32, root_context: CalloutRoot) {
    super(context_id, root_context);
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const cluster = this.root_context.getConfiguration();
    const headers: Headers = [];
    headers.push(pair(":method", "GET"));
    headers.push(pair(":path", "/check"));
    headers.push(pair(":authority", "callout.local"));
    const result = this.root_context.httpCall(cluster, headers, new ArrayBuffer(0), [], 1000, this, answered);
    log(LogLevelValues.info, "httpCall to " + cluster + ": result " + result.toString());
    if (result == WasmResultValues.Ok) {
      return FilterHeadersStatusValues.StopIteration;
    }
    send_local_response(503, "callout_refused", String.UTF8.encode("callout refused\n"), [],
                        GrpcStatusValues.InvalidCode);
    return FilterHeadersStatusValues.StopIteration;
  }
}

registerRootContext((context_id: u32) => { return new CalloutRoot(context_id); }, "callout");
