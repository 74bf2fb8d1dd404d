/**
 * Every kind of call against ShopService through the generated client, each answer checked
 * exactly (enum, oneof, map, int64, Timestamp, Duration, Struct, error details, typed domain
 * errors caught by their tag). Runtime-neutral:
 * the Node, Bun, Deno and browser clients run it over their own transports.
 */
import { create, equals, type MessageInitShape, toJsonString } from "@bufbuild/protobuf"
import { timestampDate } from "@bufbuild/protobuf/wkt"
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import { type ItemNotFound, ShopClient } from "../gen/acme/shop/v1/shop_connect.ts"
import {
  Category,
  type HaggleRequestSchema,
  type HaggleResponse,
  type Item,
  ItemSchema,
  NotFoundDetailSchema
} from "../gen/acme/shop/v1/shop_pb.ts"
import type { Money } from "../gen/acme/shop/v1/money_pb.ts"
import { catalog, eur, MISSING_SKU } from "./catalog.ts"

/** A call answered something else than expected (or failed unexpectedly); the message starts with the step. */
export class CheckFailed extends Data.TaggedError("CheckFailed")<{ readonly step: string; readonly message: string }> {}

const checkFailed = (step: string, message: string) => new CheckFailed({ step, message: `${step}: ${message}` })

/** The RPC kinds {@link runAll} can make. */
export type Kind = "unary" | "error" | "serverStream" | "clientStream" | "bidi" | "domainError"

/** Every kind, in the order they run. */
export const allKinds: ReadonlyArray<Kind> = ["unary", "error", "serverStream", "clientStream", "bidi", "domainError"]

/** What {@link runAll} needs to know about the client it runs over. */
export interface Options {
  /** The protocol of the client's transport (the server reports what it saw; both must agree). */
  readonly protocol: "connect" | "grpc" | "grpc-web"
  /** The client calls `NO_SIDE_EFFECTS` methods with GET (Connect's `useHttpGet`). */
  readonly useHttpGet?: boolean | undefined
  /**
   * `"full"`: the bidi call is a ping-pong, each offer sent after the previous answer arrived
   * (needs a client and server that exchange messages while the request body still streams:
   * HTTP/2 is made for it). `"half"` (default): every offer is sent, then the answers are read
   * (what the docs promise over HTTP/1.1 and fetch).
   */
  readonly duplex?: "full" | "half" | undefined
  /** Which kinds to run (default {@link allKinds}). */
  readonly kinds?: ReadonlyArray<Kind> | undefined
}

/** What the calls returned, in JSON-safe form. */
export interface Summary {
  /** The protocol the server saw (`connect`, `grpc`, `grpc-web`): the name the client uses. */
  readonly protocol: string
  readonly unary?: { readonly item: string; readonly httpMethod: string }
  readonly error?: { readonly code: string; readonly message: string; readonly suggestions: ReadonlyArray<string> }
  readonly serverStream?: ReadonlyArray<string>
  readonly clientStream?: { readonly lines: number; readonly total: string; readonly placedAt: string }
  readonly bidi?: { readonly duplex: "full" | "half"; readonly outcomes: ReadonlyArray<string> }
  /** The typed domain error `ItemNotFound`, caught by its tag from a unary call and mid-stream. */
  readonly domainError?: DomainErrorSummary
}

/** What the `ItemNotFound` handlers caught (the same on every runtime and protocol). */
export interface DomainErrorSummary {
  /** GetStock of a known SKU: `<sku> <units>`. */
  readonly found: string
  /** GetStock of an unknown SKU, caught with `Effect.catchTag("ItemNotFound", …)`. */
  readonly unary: CaughtItemNotFound
  /** CheckStock: the answers received before the stream failed, and what failed it. */
  readonly serverStream: { readonly received: ReadonlyArray<string>; readonly caught: CaughtItemNotFound }
}

/** An `ItemNotFound` as the client caught it: its fields, and the ConnectError it came as (`cause`). */
export interface CaughtItemNotFound {
  readonly tag: string
  readonly sku: string
  readonly message: string
  /** The code of the received ConnectError, `cause` of the domain error. */
  readonly code: string
  /** The detail types of the received ConnectError: the message itself and `google.rpc.ErrorInfo`. */
  readonly details: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------
// checking helpers

/** JSON with bigints as `123n` and object keys sorted (map and Struct key order is not significant). */
const show = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "bigint"
      ? `${v}n`
      : typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v) ?? String(value)

const expectEqual = (step: string, what: string, actual: unknown, expected: unknown): Effect.Effect<void, CheckFailed> =>
  show(actual) === show(expected)
    ? Effect.void
    : Effect.fail(checkFailed(step, `${what}: expected ${show(expected)}, got ${show(actual)}`))

const expectItem = (step: string, actual: Item | undefined, expected: MessageInitShape<typeof ItemSchema>) => {
  const want = create(ItemSchema, expected)
  return actual !== undefined && equals(ItemSchema, actual, want)
    ? Effect.void
    : Effect.fail(
      checkFailed(step, `item: expected ${toJsonString(ItemSchema, want)}, got ${actual === undefined ? "nothing" : toJsonString(ItemSchema, actual)}`)
    )
}

/** Runs a step; an unexpected ConnectError becomes a CheckFailed naming the step. */
const step = <A, R>(name: string, effect: Effect.Effect<A, CheckFailed | ConnectError.ConnectError, R>) =>
  effect.pipe(
    Effect.mapError((error) =>
      error._tag === "ConnectError"
        ? checkFailed(name, `unexpected error ${error.toString()}`)
        : error
    )
  )

/** `12.5` for 12 units and 500 000 000 nanos (at least two decimals). */
export const formatMoney = (money: Money | undefined): string => {
  if (money === undefined) return "none"
  const decimals = String(money.nanos).padStart(9, "0").replace(/0+$/, "").padEnd(2, "0")
  return `${money.units}.${decimals} ${money.currencyCode}`
}

const outcomeText = (answer: HaggleResponse): string => {
  switch (answer.outcome.case) {
    case "accepted":
      return `${answer.sku} accepted ${formatMoney(answer.outcome.value)}`
    case "counterOffer":
      return `${answer.sku} counter ${formatMoney(answer.outcome.value)}`
    case "rejectedReason":
      return `${answer.sku} rejected: ${answer.outcome.value}`
    default:
      return `${answer.sku} no outcome`
  }
}

// ---------------------------------------------------------------------------------------------
// the calls

/** Unary: GetItem("BK-002"), checked field by field and as a whole; returns the response headers. */
const unary = (options: Options) =>
  Effect.gen(function*() {
    const shop = yield* ShopClient
    let headers = new Headers()
    const { item } = yield* shop.getItem({ sku: "BK-002" }, { onHeaders: (h) => (headers = h) })
    const name = "unary GetItem"
    yield* expectEqual(name, "category (enum)", item?.category, Category.BOOK)
    const availability = item?.availability
    yield* expectEqual(
      name,
      "availability (oneof with a Duration)",
      availability?.case === "restockIn" ? [availability.case, availability.value.seconds, availability.value.nanos] : availability?.case,
      ["restockIn", 259_200n, 0]
    )
    yield* expectEqual(name, "attributes (map)", item?.attributes, { author: "Anonymous", "édition": "1ʳᵉ" })
    yield* expectEqual(name, "addedAt (Timestamp)", item?.addedAt && timestampDate(item.addedAt).toISOString(), "2025-03-01T00:00:00.500Z")
    yield* expectEqual(name, "price (int64)", item?.price?.units, 45n)
    yield* expectItem(name, item, catalog[1]!)
    const httpMethod = options.protocol === "connect" && options.useHttpGet === true ? "GET" : "POST"
    yield* expectEqual(name, "x-shop-protocol header", headers.get("x-shop-protocol"), options.protocol)
    yield* expectEqual(name, "x-shop-http-method header", headers.get("x-shop-http-method"), httpMethod)
    return { item: `${item?.sku} ${item?.name}`, httpMethod, protocol: headers.get("x-shop-protocol") ?? "?" }
  })

/** The error case: GetItem of an unknown SKU fails with not_found, its metadata and a typed detail. */
const notFound = Effect.gen(function*() {
  const shop = yield* ShopClient
  const name = "unary GetItem (error)"
  const error = yield* shop.getItem({ sku: MISSING_SKU }).pipe(
    Effect.matchEffect({
      onSuccess: (response) =>
        Effect.fail(checkFailed(name, `expected not_found, got ${toJsonString(ItemSchema, response.item!)}`)),
      onFailure: Effect.succeed
    })
  )
  yield* expectEqual(name, "error tag", error._tag, "ConnectError")
  yield* expectEqual(name, "code", error.code, "not_found")
  yield* expectEqual(name, "message", error.message, `no item with SKU "${MISSING_SKU}"`)
  yield* expectEqual(name, "x-shop-hint metadata", error.metadata?.get("x-shop-hint"), "see ListItems")
  const details = ConnectError.findDetails(error, NotFoundDetailSchema)
  yield* expectEqual(name, "NotFoundDetail", details.map((d) => ({ sku: d.sku, suggestions: d.suggestions })), [
    { sku: MISSING_SKU, suggestions: ["BK-001", "BK-002"] }
  ])
  return { code: error.code, message: error.message, suggestions: details[0]?.suggestions ?? [] }
})

/** The fields of a caught `ItemNotFound` and of the ConnectError it was received as (its `cause`). */
const caughtItemNotFound = (e: ItemNotFound): CaughtItemNotFound => ({
  tag: e._tag,
  sku: e.sku,
  message: e.message,
  code: ConnectError.isConnectError(e.cause) ? e.cause.code : "no ConnectError cause",
  details: ConnectError.isConnectError(e.cause) ? (e.cause.details ?? []).map((d) => d.type) : []
})

/**
 * Typed domain errors: GetStock and CheckStock declare `ItemNotFound` (proto option
 * `(connecteffect.v1.errors)`), so the client's error type names it and `Effect.catchTag` takes it
 * out of the error channel (what is left is `ConnectError | CheckFailed`: no cast).
 */
const domainErrors = Effect.gen(function*() {
  const shop = yield* ShopClient
  const unaryName = "unary GetStock (domain error)"
  const found = yield* shop.getStock({ sku: "FD-001" }).pipe(
    Effect.catchTag("ItemNotFound", (e) => Effect.fail(checkFailed(unaryName, `FD-001: unexpected ItemNotFound for ${e.sku}`)))
  )
  yield* expectEqual(unaryName, "stock of FD-001", [found.sku, found.units], ["FD-001", 240])
  const unary = yield* shop.getStock({ sku: MISSING_SKU }).pipe(
    Effect.flatMap((response) => Effect.fail(checkFailed(unaryName, `expected ItemNotFound, got ${response.sku} ${response.units}`))),
    Effect.catchTag("ItemNotFound", (e) => Effect.succeed(caughtItemNotFound(e)))
  )
  yield* expectEqual(unaryName, "caught ItemNotFound", unary, expectedItemNotFound(MISSING_SKU))

  const streamName = "server stream CheckStock (domain error)"
  const received: Array<string> = []
  const caught = yield* shop.checkStock({ skus: ["BK-001", "TL-001", "XX-000", "FD-001"] }).pipe(
    Stream.runForEach((answer) => Effect.sync(() => received.push(`${answer.sku} ${answer.units}`))),
    Effect.flatMap(() => Effect.fail(checkFailed(streamName, "expected ItemNotFound, the stream completed"))),
    Effect.catchTag("ItemNotFound", (e) => Effect.succeed(caughtItemNotFound(e)))
  )
  yield* expectEqual(streamName, "answers before the error", received, ["BK-001 12", "TL-001 0"])
  yield* expectEqual(streamName, "caught ItemNotFound", caught, expectedItemNotFound("XX-000"))
  return { found: `${found.sku} ${found.units}`, unary, serverStream: { received, caught } }
})

/** What an `ItemNotFound` for `sku` must look like once caught. */
const expectedItemNotFound = (sku: string): CaughtItemNotFound => ({
  tag: "ItemNotFound",
  sku,
  message: "ItemNotFound",
  code: "not_found",
  details: ["acme.shop.v1.ItemNotFound", "google.rpc.ErrorInfo"]
})

/** Server stream: ListItems of every category (the whole catalog, in order), then of FOOD only. */
const serverStream = Effect.gen(function*() {
  const shop = yield* ShopClient
  const name = "server stream ListItems"
  const all = yield* Stream.runCollect(shop.listItems({}))
  yield* expectEqual(name, "SKUs", all.map((r) => r.item?.sku), catalog.map((item) => item.sku))
  for (const [i, response] of all.entries()) yield* expectItem(name, response.item, catalog[i]!)
  const food = yield* Stream.runCollect(shop.listItems({ category: Category.FOOD }))
  yield* expectEqual(name, "FOOD SKUs", food.map((r) => r.item?.sku), ["FD-001"])
  return all.map((r) => r.item?.sku ?? "?")
})

/** Client stream: PlaceOrder with three lines (two of the same SKU). */
const clientStream = Effect.gen(function*() {
  const shop = yield* ShopClient
  const name = "client stream PlaceOrder"
  const order = yield* shop.placeOrder(
    Stream.make({ sku: "BK-001", quantity: 2 }, { sku: "FD-001", quantity: 10 }, { sku: "BK-001", quantity: 1 })
  )
  yield* expectEqual(name, "lineCount", order.lineCount, 3)
  yield* expectEqual(name, "quantities (map)", order.quantities, { "BK-001": 3, "FD-001": 10 })
  yield* expectEqual(name, "total (int64 + nanos)", [order.total?.currencyCode, order.total?.units, order.total?.nanos], ["EUR", 144n, 600_000_000])
  const placedAt = order.placedAt && timestampDate(order.placedAt).toISOString()
  yield* expectEqual(name, "placedAt (Timestamp)", placedAt, "2025-06-01T12:00:00.000Z")
  yield* expectEqual(name, "receipt (Struct)", order.receipt, {
    currency: "EUR",
    lines: 3,
    skus: ["BK-001", "FD-001"],
    paid: false,
    coupon: null,
    shipping: { method: "standard", days: 3 }
  })
  return { lines: order.lineCount, total: formatMoney(order.total), placedAt: placedAt ?? "none" }
})

/** The offers of the bidi call and the answers they must get, in order. */
const offers: ReadonlyArray<{ readonly request: MessageInitShape<typeof HaggleRequestSchema>; readonly expected: string }> = [
  { request: { sku: "TL-001", offer: eur(100n) }, expected: "TL-001 accepted 100.00 EUR" },
  { request: { sku: "TL-001", offer: eur(60n) }, expected: "TL-001 counter 74.995 EUR" },
  { request: { sku: "BK-001", offer: eur(10n) }, expected: "BK-001 rejected: offer is below half the price" },
  { request: { sku: "XX-999", offer: eur(1n) }, expected: "XX-999 rejected: unknown SKU" },
  { request: { sku: "FD-001", offer: { currencyCode: "USD", units: 5n } }, expected: "FD-001 rejected: offers must be in EUR" }
]

/** Bidi, half duplex: every offer is sent, the answers are read as they come. */
const bidiHalf = Effect.gen(function*() {
  const shop = yield* ShopClient
  const answers = yield* Stream.runCollect(shop.haggle(Stream.fromIterable(offers.map((o) => o.request))))
  return answers.map(outcomeText)
})

/**
 * Bidi, full duplex: a ping-pong where each offer is sent only after the answer to the previous
 * one arrived (the request stream reads a Queue the response loop feeds). Over a transport that
 * is not full duplex this stalls, hence the timeout.
 */
const bidiFull = Effect.gen(function*() {
  const shop = yield* ShopClient
  const outgoing = yield* Queue.unbounded<MessageInitShape<typeof HaggleRequestSchema>, Cause.Done>()
  yield* Queue.offer(outgoing, offers[0]!.request)
  const heard: Array<string> = []
  yield* shop.haggle(Stream.fromQueue(outgoing)).pipe(
    Stream.runForEach((answer) =>
      Effect.suspend(() => {
        heard.push(outcomeText(answer))
        const next = offers[heard.length]
        return next === undefined ? Queue.end(outgoing) : Queue.offer(outgoing, next.request)
      })
    ),
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () =>
        Effect.fail(
          checkFailed("bidi Haggle (full duplex)", `stalled after ${heard.length} answers: is the transport full duplex?`)
        )
    })
  )
  return heard
})

const bidi = (duplex: "full" | "half") =>
  Effect.gen(function*() {
    const outcomes = yield* (duplex === "full" ? bidiFull : bidiHalf)
    yield* expectEqual(`bidi Haggle (${duplex} duplex)`, "outcomes (oneof)", outcomes, offers.map((o) => o.expected))
    return { duplex, outcomes }
  })

/**
 * Makes every kind of call (or those of `options.kinds`) with the `ShopClient` in context and
 * checks each answer exactly; fails with a `CheckFailed` naming the call and the mismatch.
 */
export const runAll = (options: Options): Effect.Effect<Summary, CheckFailed, ShopClient> =>
  Effect.gen(function*() {
    const kinds = new Set(options.kinds ?? allKinds)
    for (const kind of kinds) {
      if (!allKinds.includes(kind)) return yield* Effect.fail(checkFailed("options", `unknown kind "${kind}" (kinds: ${allKinds.join(", ")})`))
    }
    let protocol: string = options.protocol
    const summary: { -readonly [K in keyof Summary]: Summary[K] } = { protocol }
    if (kinds.has("unary")) {
      const result = yield* step("unary GetItem", unary(options))
      protocol = result.protocol
      summary.protocol = protocol
      summary.unary = { item: result.item, httpMethod: result.httpMethod }
    }
    if (kinds.has("error")) summary.error = yield* step("unary GetItem (error)", notFound)
    if (kinds.has("serverStream")) summary.serverStream = yield* step("server stream ListItems", serverStream)
    if (kinds.has("clientStream")) summary.clientStream = yield* step("client stream PlaceOrder", clientStream)
    if (kinds.has("bidi")) summary.bidi = yield* step("bidi Haggle", bidi(options.duplex ?? "half"))
    if (kinds.has("domainError")) summary.domainError = yield* step("domain error ItemNotFound", domainErrors)
    return summary
  })
