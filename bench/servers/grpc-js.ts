/**
 * The grpc-js peer: PingService with @grpc/grpc-js (gRPC over h2c), messages serialized by
 * protobuf-es.   node bench/servers/grpc-js.ts --port 8080
 */
import * as grpc from "@grpc/grpc-js"
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf"
import {
  CountUpRequestSchema, CountUpResponseSchema, CumSumRequestSchema, CumSumResponseSchema, PingRequestSchema,
  PingResponseSchema, SumRequestSchema, SumResponseSchema
} from "../gen/bench/v1/ping_pb.ts"
import { installAdminHook, portArg, ready } from "./common.ts"

const ser = <D extends DescMessage>(schema: D) => (m: MessageShape<D>) => Buffer.from(toBinary(schema, m))
const de = <D extends DescMessage>(schema: D) => (b: Buffer) => fromBinary(schema, b)

/** The service definition grpc-js needs, written by hand over protobuf-es serializers. */
export const PingServiceDefinition = {
  ping: {
    path: "/bench.v1.PingService/Ping", requestStream: false, responseStream: false,
    requestSerialize: ser(PingRequestSchema), requestDeserialize: de(PingRequestSchema),
    responseSerialize: ser(PingResponseSchema), responseDeserialize: de(PingResponseSchema)
  },
  sum: {
    path: "/bench.v1.PingService/Sum", requestStream: true, responseStream: false,
    requestSerialize: ser(SumRequestSchema), requestDeserialize: de(SumRequestSchema),
    responseSerialize: ser(SumResponseSchema), responseDeserialize: de(SumResponseSchema)
  },
  countUp: {
    path: "/bench.v1.PingService/CountUp", requestStream: false, responseStream: true,
    requestSerialize: ser(CountUpRequestSchema), requestDeserialize: de(CountUpRequestSchema),
    responseSerialize: ser(CountUpResponseSchema), responseDeserialize: de(CountUpResponseSchema)
  },
  cumSum: {
    path: "/bench.v1.PingService/CumSum", requestStream: true, responseStream: true,
    requestSerialize: ser(CumSumRequestSchema), requestDeserialize: de(CumSumRequestSchema),
    responseSerialize: ser(CumSumResponseSchema), responseDeserialize: de(CumSumResponseSchema)
  }
} satisfies grpc.ServiceDefinition

if (import.meta.main) {
  installAdminHook()
  // note: grpc-js answers gzip requests with identity responses: its server has no response
  // compression (1.14.7, server-interceptors.js `serializeMessage`), see RESULTS.md
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 })
  server.addService(PingServiceDefinition, {
    ping: (call: grpc.ServerUnaryCall<MessageShape<typeof PingRequestSchema>, unknown>, callback: grpc.sendUnaryData<MessageShape<typeof PingResponseSchema>>) => {
      const r = call.request
      if (r.number < 0n) callback({ code: grpc.status.INVALID_ARGUMENT, details: "number must not be negative" })
      else callback(null, create(PingResponseSchema, { number: r.number, text: r.text }))
    },
    sum: (call: grpc.ServerReadableStream<MessageShape<typeof SumRequestSchema>, unknown>, callback: grpc.sendUnaryData<MessageShape<typeof SumResponseSchema>>) => {
      let number = 0n
      call.on("data", (r: MessageShape<typeof SumRequestSchema>) => {
        number += r.number
      })
      call.on("end", () => callback(null, create(SumResponseSchema, { number })))
    },
    countUp: (call: grpc.ServerWritableStream<MessageShape<typeof CountUpRequestSchema>, MessageShape<typeof CountUpResponseSchema>>) => {
      const { number, text } = call.request
      let i = 1n
      const pump = () => {
        while (i <= number) {
          const ok = call.write(create(CountUpResponseSchema, { number: i++, text }))
          if (!ok) {
            call.once("drain", pump)
            return
          }
        }
        call.end()
      }
      pump()
    },
    cumSum: (call: grpc.ServerDuplexStream<MessageShape<typeof CumSumRequestSchema>, MessageShape<typeof CumSumResponseSchema>>) => {
      let number = 0n
      call.on("data", (r: MessageShape<typeof CumSumRequestSchema>) => {
        number += r.number
        call.write(create(CumSumResponseSchema, { number, text: r.text }))
      })
      call.on("end", () => call.end())
    }
  })
  const port = portArg()
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err !== null) {
      console.error(err)
      process.exit(1)
    }
    ready(bound)
  })
}
