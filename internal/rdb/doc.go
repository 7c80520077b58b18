// Package rdb opens Switchboard's Redis connection from the configured URL
// (a single server, Redis Cluster, or the embedded in-process miniredis) and
// runs Lua scripts inside pipelines with a fallback for an empty script
// cache. It owns no keys.
package rdb
