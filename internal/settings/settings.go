// Package settings is the small toolkit every configuration struct in QLP is
// built with. A [Setting] binds one field to a dotted YAML key, a QLP_*
// environment variable and a help text; [Apply] fills the fields from a YAML
// file, the environment and --set overrides, in that order of precedence
// (later wins), with errors that name the bad setting.
//
// Service packages define their own Config with a Settings method; the root
// configuration (package config) gathers them. This package imports no QLP
// package so that every service may import it.
package settings

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Value is a typed field that parses itself from a string.
type Value interface {
	Set(string) error
	String() string
}

// Setting binds one configuration field to its names.
type Setting struct {
	Key    string // dotted YAML key, e.g. "llm.provider"
	Env    string // environment variable, e.g. "QLP_LLM_PROVIDER"
	Help   string // one line for --help, docs and `qlp config dump`
	Secret bool   // never printed
	Value  Value
}

// Name is how errors refer to the setting: "llm.provider (QLP_LLM_PROVIDER)".
func (s Setting) Name() string {
	if s.Env == "" {
		return s.Key
	}
	return s.Key + " (" + s.Env + ")"
}

// Display is the value as `qlp config dump` shows it.
func (s Setting) Display() string {
	v := s.Value.String()
	if s.Secret && v != "" {
		return "[redacted]"
	}
	return v
}

// Errorf builds a configuration error that names the setting:
// "key (ENV): message". The format may wrap an error with %w.
func (s Setting) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.Name()}, args...)...)
}

// Lookup returns the setting of list with the dotted key. It panics when
// there is none: keys are written in code, so a misspelt one is a bug that
// the first test reaching it must show, not an error message naming nothing.
func Lookup(list []Setting, key string) Setting {
	for _, s := range list {
		if s.Key == key {
			return s
		}
	}
	panic(fmt.Sprintf("settings: no setting %q", key))
}

// Invalid is the one way a Validate method names a bad setting: it
// returns "key (ENV): message" for the setting of list with the key, e.g.
//
//	settings.Invalid(c.Settings(), "workflow.max_parallel", "%d is outside 1..64", n)
//
// Like [Lookup], it panics on an unknown key.
func Invalid(list []Setting, key, format string, args ...any) error {
	return Lookup(list, key).Errorf(format, args...)
}

// NameOf is how messages refer to the setting of list with the key, e.g.
// when a message names a second setting: "llm.provider (QLP_LLM_PROVIDER)".
// Like [Lookup], it panics on an unknown key.
func NameOf(list []Setting, key string) string { return Lookup(list, key).Name() }

// Source says where values come from when applying settings.
type Source struct {
	File      string // YAML file path; "" for none
	Environ   func(string) (string, bool)
	Overrides map[string]string // --set key=value, by key or env name
}

// Apply fills the settings from the file, then the environment, then the
// overrides. Unknown keys in the file or the overrides are errors.
func Apply(list []Setting, src Source) error {
	byKey := make(map[string]Setting, len(list))
	byEnv := make(map[string]Setting, len(list))
	for _, s := range list {
		byKey[s.Key] = s
		if s.Env != "" {
			byEnv[s.Env] = s
		}
	}
	if src.File != "" {
		if err := applyFile(byKey, src.File); err != nil {
			return err
		}
	}
	env := src.Environ
	if env == nil {
		env = os.LookupEnv
	}
	for _, s := range list {
		if s.Env == "" {
			continue
		}
		if v, ok := env(s.Env); ok {
			if err := s.Value.Set(v); err != nil {
				return s.Errorf("%v", err)
			}
		}
	}
	keys := make([]string, 0, len(src.Overrides))
	for k := range src.Overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			s, ok = byEnv[k]
		}
		if !ok {
			return fmt.Errorf("--set %s: unknown setting (see `qlp config dump` for the list)", k)
		}
		if err := s.Value.Set(src.Overrides[k]); err != nil {
			return s.Errorf("%v", err)
		}
	}
	return nil
}

func applyFile(byKey map[string]Setting, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	flat := map[string]string{}
	if err := flatten("", root, flat); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		if err := s.Value.Set(flat[k]); err != nil {
			return fmt.Errorf("config file %s: %w", path, s.Errorf("%v", err))
		}
	}
	return nil
}

func flatten(prefix string, v any, out map[string]string) error {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if err := flatten(key, sub, out); err != nil {
				return err
			}
		}
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			switch e.(type) {
			case map[string]any, []any:
				return fmt.Errorf("%s: nested lists and maps are not supported", prefix)
			}
			parts = append(parts, fmt.Sprint(e))
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
		out[prefix] = ""
	default:
		out[prefix] = fmt.Sprint(t)
	}
	return nil
}

// String binds a string field.
func String(p *string) Value { return (*stringValue)(p) }

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

// Int binds an int field.
func Int(p *int) Value { return (*intValue)(p) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

// Int64 binds an int64 field; it accepts size suffixes KiB, MiB and GiB.
func Int64(p *int64) Value { return (*int64Value)(p) }

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v = int64Value(n)
	return nil
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

// ParseSize parses "1048576", "512KiB", "64MiB" or "2GiB".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.m, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 64MiB)", s)
	}
	return n * mult, nil
}

// Float binds a float64 field.
func Float(p *float64) Value { return (*floatValue)(p) }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'f', -1, 64) }

// Bool binds a bool field.
func Bool(p *bool) Value { return (*boolValue)(p) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a boolean (true or false)", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }

// Duration binds a time.Duration field ("30s", "5m").
func Duration(p *time.Duration) Value { return (*durationValue)(p) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

// List binds a []string field, written comma-separated.
func List(p *[]string) Value { return (*listValue)(p) }

type listValue []string

func (v *listValue) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	*v = out
	return nil
}
func (v *listValue) String() string { return strings.Join(*v, ",") }
