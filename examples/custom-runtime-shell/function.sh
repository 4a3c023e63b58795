# The handler: the event JSON in, the response out (an API Gateway 2.0 response for HTTP).
handler() {
  EVENT_DATA=$1
  echo "{\"statusCode\":200,\"body\":\"Hello from a shell runtime! The event was ${#EVENT_DATA} bytes.\"}"
}
