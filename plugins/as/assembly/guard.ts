// guard: denies requests whose path starts with the configured prefix (403 with a body),
// counts requests in a counter metric, numbers them per VM, and tags every allowed request
// with "x-wasp-seq: N" and its response with "x-wasp-guard: allowed".
// Root id "guard". Configuration: the path prefix to deny (default "/admin").
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
  send_local_response, log, LogLevelValues, Counter, Headers, HeaderPair
} from "@solo-io/proxy-runtime";

let requests: Counter | null = null;
let sequence: u32 = 0;

class GuardRoot extends RootContext {
  onConfigure(configuration_size: u32): bool {
    super.onConfigure(configuration_size);
    requests = new Counter("guard_requests_total");
    log(LogLevelValues.info, "guard configured to deny " + this.denied());
    return true;
  }

  denied(): string {
    const config = this.getConfiguration();
    return config == "" ? "/admin" : config;
  }

  createContext(context_id: u32): Context {
    return new Guard(context_id, this);
  }
}

class Guard extends Context {
  guardRoot: GuardRoot;

  constructor(context_id: u32, root_context: GuardRoot) {
    super(context_id, root_context);
    this.guardRoot = root_context;
  }

  onRequestHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    if (requests !== null) {
      (requests as Counter).increment(1);
    }
    const path = stream_context.headers.request.get(":path");
    if (path.startsWith(this.guardRoot.denied())) {
      log(LogLevelValues.warn, "guard denied " + path);
      const headers: Headers = [];
      headers.push(new HeaderPair(String.UTF8.encode("x-wasp-guard"), String.UTF8.encode("denied")));
      send_local_response(403, "denied by guard", String.UTF8.encode("forbidden by guard\n"), headers, -1);
      return FilterHeadersStatusValues.StopIteration;
    }
    sequence += 1;
    stream_context.headers.request.add("x-wasp-seq", sequence.toString());
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(a: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.replace("x-wasp-guard", "allowed");
    return FilterHeadersStatusValues.Continue;
  }
}

registerRootContext((context_id: u32) => { return new GuardRoot(context_id); }, "guard");
