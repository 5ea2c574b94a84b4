// Server-Sent Events over fetch(): EventSource cannot send an
// Authorization header, so the stream is read with a ReadableStream reader
// and its frames parsed here (the WHATWG "event stream" rules: event:,
// data:, id:, retry: fields, blank-line separated, ":" comments are
// keep-alives). When the stream ends or fails, it reconnects with backoff.

import { send, ApiError } from "./api.js";

/** Parses an event stream's text as it arrives; calls onEvent({event,
 * data, id}) for each dispatched frame. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.lastEventId = "";
    this.retry = null;
    this.reset();
  }

  reset() {
    this.eventType = "";
    this.data = [];
    this.sawData = false;
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone "\r" at the end may be the first half of "\r\n".
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment: keep-alive
    const colon = line.indexOf(":");
    let field = line;
    let value = "";
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        this.sawData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  dispatch() {
    if (this.sawData) {
      this.onEvent({
        event: this.eventType || "message",
        data: this.data.join("\n"),
        id: this.lastEventId,
      });
    }
    this.reset();
  }
}

/**
 * Follows an event stream until `stop()`: calls `onEvent` for each frame,
 * `onState(state, detail)` with "connecting", "open", "waiting" (before a
 * reconnect, detail = seconds) and "stopped" (detail = the ApiError that
 * ended it: a 4xx other than 408/429 is not retried).
 */
export function follow(path, { onEvent, onState = () => {} }) {
  const controller = new AbortController();
  let stopped = false;
  let attempt = 0;
  let lastEventId = "";
  let timer = null;
  let baseMs = 1000; // the server's `retry:` when it sends one

  const run = async () => {
    while (!stopped) {
      onState("connecting");
      let received = false;
      try {
        const headers = { Accept: "text/event-stream" };
        if (lastEventId) headers["Last-Event-ID"] = lastEventId;
        const response = await send(path, { headers, signal: controller.signal });
        onState("open");
        const parser = new SseParser((frame) => {
          received = true;
          lastEventId = frame.id;
          onEvent(frame);
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (parser.retry !== null) baseMs = Math.max(250, parser.retry);
        }
      } catch (e) {
        if (stopped || (e && e.name === "AbortError")) return;
        if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) {
          stopped = true;
          onState("stopped", e);
          return;
        }
      }
      if (stopped) return;
      if (received) attempt = 0;
      const seconds = (Math.min(30000, baseMs * 2 ** attempt) / 1000) * (0.75 + Math.random() * 0.5);
      attempt += 1;
      onState("waiting", seconds);
      await new Promise((resolve) => {
        timer = setTimeout(resolve, seconds * 1000);
      });
    }
  };
  run();

  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
    },
  };
}
