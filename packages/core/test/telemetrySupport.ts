/**
 * An OpenTelemetry tracer provider that keeps finished spans in memory, as an Effect `Tracer`
 * layer (through `@effect/opentelemetry`), for the telemetry tests.
 */
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor
} from "@opentelemetry/sdk-trace-base"
import * as Layer from "effect/Layer"

export { SpanKind, SpanStatusCode }
export type { ReadableSpan }

export const makeTracing = () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const layer = OtelTracer.layer.pipe(Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider)))
  return {
    exporter,
    layer,
    spans: (): ReadonlyArray<ReadableSpan> => exporter.getFinishedSpans(),
    reset: () => exporter.reset()
  }
}

/** The one finished span of a kind (fails the test when there is not exactly one). */
export const only = (spans: ReadonlyArray<ReadableSpan>, kind: SpanKind): ReadableSpan => {
  const found = spans.filter((s) => s.kind === kind)
  if (found.length !== 1) {
    throw new Error(`expected one span of kind ${kind}, got ${found.length}: ${spans.map((s) => s.name).join(", ")}`)
  }
  return found[0]!
}
