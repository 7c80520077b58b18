package ami

import "strings"

// channelDevice returns the device of a channel name: the part between the
// technology and the channel's unique suffix.
//
//	PJSIP/8001-00000013              → 8001
//	SIP/carrier-0000001a             → carrier
//	Local/8001@from-queue-00000001;1 → 8001 (the part before the @)
func channelDevice(name string) string {
	dev := interfaceDevice(name)
	if strings.HasPrefix(name, "Local/") || strings.Contains(name, "@") {
		return dev
	}
	if i := strings.LastIndexByte(dev, '-'); i > 0 && isHex(dev[i+1:]) {
		dev = dev[:i]
	}
	return dev
}

// interfaceDevice returns the device of a queue member's interface, which
// has no unique suffix: PJSIP/8001 → 8001, Local/8001@from-queue/n → 8001.
// A name without a technology is returned as it is.
func interfaceDevice(name string) string {
	_, dev, ok := strings.Cut(name, "/")
	if !ok {
		return name
	}
	if at := strings.IndexByte(dev, '@'); at >= 0 {
		return dev[:at]
	}
	if semi := strings.IndexByte(dev, ';'); semi >= 0 {
		dev = dev[:semi]
	}
	return dev
}

// isHex reports whether s is a non-empty run of hexadecimal digits.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
