/**
 * The ShopService implementation as a Layer (every RPC kind), deterministic so that clients can
 * check exact answers. Runtime-neutral: served by the Node, Bun and fetch (Deno) servers alike.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ConnectError from "@connect-effect/core/ConnectError"
import type * as Cors from "@connect-effect/core/Cors"
import type { HandlerContext } from "@connect-effect/core/HandlerContext"
import * as Router from "@connect-effect/core/Router"
import { ItemNotFound, ShopService } from "../gen/acme/shop/v1/shop_connect.ts"
import { Category, NotFoundDetailSchema } from "../gen/acme/shop/v1/shop_pb.ts"
import { catalog, CURRENCY, EXPOSED_HEADERS, findItem, fromNanos, haggle, ORDER_PLACED_AT, suggestionsFor, toNanos, unitsInStock } from "./catalog.ts"

const served = (call: HandlerContext) => {
  call.responseHeaders.set("x-shop-protocol", call.protocol)
  call.responseHeaders.set("x-shop-http-method", call.httpMethod)
}

/** ShopService, implemented. */
export const ShopLive = ShopService.layer(Effect.succeed({
  getItem: (request, call) =>
    Effect.suspend(() => {
      served(call)
      const item = findItem(request.sku)
      return item === undefined
        ? Effect.fail(ConnectError.make("not_found", `no item with SKU "${request.sku}"`, {
          metadata: { "x-shop-hint": "see ListItems" },
          details: [ConnectError.detail(NotFoundDetailSchema, { sku: request.sku, suggestions: suggestionsFor(request.sku) })]
        }))
        : Effect.succeed({ item })
    }),

  listItems: (request, call) =>
    Stream.suspend(() => {
      served(call)
      return Stream.fromIterable(catalog).pipe(
        Stream.filter((item) => request.category === Category.UNSPECIFIED || item.category === request.category),
        Stream.map((item) => ({ item }))
      )
    }),

  placeOrder: (requests) =>
    requests.pipe(
      Stream.runFoldEffect(
        () => ({ lineCount: 0, quantities: {} as Record<string, number>, totalNanos: 0n }),
        (order, line) => {
          const item = findItem(line.sku)
          if (item === undefined) return Effect.fail(ConnectError.make("invalid_argument", `unknown SKU "${line.sku}"`))
          if (line.quantity <= 0) return Effect.fail(ConnectError.make("invalid_argument", `quantity of ${line.sku} must be positive`))
          return Effect.succeed({
            lineCount: order.lineCount + 1,
            quantities: { ...order.quantities, [line.sku]: (order.quantities[line.sku] ?? 0) + line.quantity },
            totalNanos: order.totalNanos + toNanos(item.price) * BigInt(line.quantity)
          })
        }
      ),
      Effect.map((order) => ({
        lineCount: order.lineCount,
        quantities: order.quantities,
        total: fromNanos(order.totalNanos),
        placedAt: ORDER_PLACED_AT,
        receipt: {
          currency: CURRENCY,
          lines: order.lineCount,
          skus: Object.keys(order.quantities).sort(),
          paid: false,
          coupon: null,
          shipping: { method: "standard", days: 3 }
        }
      }))
    ),

  haggle: (requests) =>
    Stream.map(requests, (request) => {
      const item = findItem(request.sku)
      if (item === undefined) return { sku: request.sku, outcome: { case: "rejectedReason", value: "unknown SKU" } } as const
      if (request.offer?.currencyCode !== CURRENCY) {
        return { sku: request.sku, outcome: { case: "rejectedReason", value: `offers must be in ${CURRENCY}` } } as const
      }
      const answer = haggle(toNanos(item.price), toNanos(request.offer))
      return {
        sku: request.sku,
        outcome: answer.case === "rejectedReason" ? answer : { case: answer.case, value: fromNanos(answer.value) }
      }
    }),

  // typed domain error: the handler's error type is `ConnectError | ItemNotFound`
  getStock: (request, call) =>
    Effect.suspend(() => {
      served(call)
      const item = findItem(request.sku)
      return item === undefined ? Effect.fail(new ItemNotFound({ sku: request.sku })) : Effect.succeed({ sku: item.sku, units: unitsInStock(item) })
    }),

  // answers the SKUs it finds, then fails mid-stream with ItemNotFound at the first it cannot
  checkStock: (request) =>
    Stream.fromIterable(request.skus).pipe(
      Stream.mapEffect((sku) => {
        const item = findItem(sku)
        return item === undefined ? Effect.fail(new ItemNotFound({ sku })) : Effect.succeed({ sku, units: unitsInStock(item) })
      })
    )
}))

/** The router of the app: ShopService, its implementation still to be provided (`ShopLive`). */
export const routes = Router.fromServices(ShopService)

/** CORS for browsers on any origin, allowed to read the headers the service sets. */
export const cors: Cors.Options = { allowedOrigins: "*", exposedHeaders: EXPOSED_HEADERS }
