package codes

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"switchboard/internal/redistest"
)

func TestStore(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	s := NewStore(rdb, prefix)
	ctx := context.Background()
	var mu sync.Mutex // concurrent updates below read the clock too
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		at = at.Add(time.Millisecond)
		return at
	}

	var made []string
	for i := range 5 {
		c := valid()
		c.Asset.Serial = string(rune('A' + i))
		if err := Validate(&c); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if !Valid(c.Code) || c.Rev != 1 {
			t.Fatalf("created %q rev %d", c.Code, c.Rev)
		}
		made = append(made, c.Code)
	}
	got, err := s.Get(ctx, made[2])
	if err != nil || got.Asset.Serial != "C" || got.Rev != 1 || len(got.Fields) != 2 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	for _, id := range []string{"zzzzzzzzzzzz", "not-a-code", ""} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", id, err)
		}
	}

	// Pages of two, newest first, until the cursor runs out.
	var listed []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the list does not end")
		}
		page, next, err := s.List(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			listed = append(listed, c.Code)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(listed) != 5 {
		t.Fatalf("listed %v, want the 5 codes", listed)
	}
	for i, id := range listed {
		if id != made[4-i] {
			t.Errorf("listed[%d] = %s, want %s (newest first)", i, id, made[4-i])
		}
	}
	if _, _, err := s.List(ctx, "bogus", 2); !errors.Is(err, ErrBadCursor) {
		t.Errorf("List with a bad cursor: %v", err)
	}

	// Update: a change that fails changes nothing; concurrent updates all land.
	if _, err := s.Update(ctx, made[0], func(c *Code) error { c.Asset.Name = ""; return Validate(c) }); err == nil {
		t.Fatal("an invalid update was stored")
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, made[0], func(c *Code) error { c.Fields = append(c.Fields, Field{Key: "k" + string(rune('a'+i))}); return nil })
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ = s.Get(ctx, made[0])
	if got.Rev != 5 || len(got.Fields) != 6 || got.Asset.Name == "" {
		t.Errorf("after 4 concurrent updates: rev %d, %d fields, name %q; want rev 5, 6 fields", got.Rev, len(got.Fields), got.Asset.Name)
	}
	if _, err := s.Update(ctx, "zzzzzzzzzzzz", func(*Code) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of an unknown code: %v", err)
	}
}
