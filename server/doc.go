// Package server is Switchboard's HTTP edge and the only package that
// knows Fiber: it mounts the connectors' endpoints, the agent API under
// /api/v1 (described in openapi.yaml), the agent socket, the inbox page
// and the health and metrics endpoints.
//
// Fiber reuses request buffers once a handler returns, so every request
// handed to a connector is copied into a connectors.Request first; the
// rest of Switchboard never sees a *fiber.Ctx.
package server
