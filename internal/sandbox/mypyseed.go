package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// mypySeedPath is where sandboxes see the mypy cache seed.
const mypySeedPath = "/.qlp/mypy-seed"

// MypyFlags are the options the Python validation runs mypy with. The
// seed is built with the same ones: mypy only reuses a cache entry written
// under the options that affect it.
func MypyFlags() []string {
	return []string{"--no-error-summary", "--show-column-numbers", "--no-color-output", "--hide-error-context",
		"--ignore-missing-imports", "--explicit-package-bases"}
}

// usesMypy reports whether a command runs mypy (`python3 -m mypy …` or a
// mypy executable): only those runs pay for copying the seed.
func usesMypy(cmds []Command) bool {
	for _, c := range cmds {
		if len(c.Args) > 0 && filepath.Base(c.Args[0]) == "mypy" {
			return true
		}
		if i := slices.Index(c.Args, "-m"); i >= 0 && i+1 < len(c.Args) && c.Args[i+1] == "mypy" {
			return true
		}
	}
	return false
}

// mypySeedSource is the seed module: the standard library modules it
// imports (and builtins, typing and what they import) are what the seed
// holds, the modules generated Python projects commonly use.
const mypySeedSource = `import abc
import argparse
import asyncio
import base64
import collections
import contextlib
import copy
import csv
import dataclasses
import datetime
import decimal
import enum
import functools
import hashlib
import heapq
import http.client
import http.server
import io
import itertools
import json
import logging
import math
import os
import pathlib
import random
import re
import shutil
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import typing
import unittest
import unittest.mock
import urllib.parse
import urllib.request
import uuid
`

func (r *Local) startMypySeed() {
	r.mypySeedOnce.Do(func() {
		r.background.Add(1)
		go func() {
			defer r.background.Done()
			defer close(r.mypySeedDone)
			r.mypySeed, r.mypySeedErr = r.buildMypySeed(r.life)
		}()
	})
}

// mypyCacheSeed returns the mypy cache seed ("" when this host's python3
// has no mypy), starting to build it if no run has asked yet, and waits for
// it as long as ctx allows.
func (r *Local) mypyCacheSeed(ctx context.Context) (string, error) {
	r.startMypySeed()
	select {
	case <-r.mypySeedDone:
		return r.mypySeed, r.mypySeedErr
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// buildMypySeed provides a mypy cache holding the analysis of the standard
// library's typeshed stubs, made by checking a module of our own (trusted
// code) with the python3 and mypy the sandbox runs, under MypyFlags. Runs
// copy it into their own writable MYPY_CACHE_DIR (modification times
// kept, which mypy checks), so no run can change it. Like the Go seed it is
// named by the digest of the Python and mypy versions, the flags and the
// module, kept in seedDir (prefixed mypy-), built in a temporary directory
// and renamed into place once complete.
func (r *Local) buildMypySeed(ctx context.Context) (string, error) {
	lang := r.langs["python"]
	path := strings.Join(append(append([]string{}, lang.pathDirs...), basePath), ":")
	python := lookPathIn("python3", path)
	if python == "" {
		return "", fmt.Errorf("sandbox: seed mypy cache: no python3 on the sandbox's PATH %s", path)
	}
	version, err := exec.CommandContext(ctx, python, "-I", "-m", "mypy", "--version").Output()
	if err != nil {
		// No mypy for this interpreter: nothing to seed, and the
		// validation reports mypy as unavailable.
		r.logger.Info("mypy cache seed not built: this python3 has no mypy", "python", python)
		return "", nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "qlp mypy cache seed v1\n%s\n%s\n%s\n%s", lang.Version, version, strings.Join(MypyFlags(), " "), mypySeedSource)
	root := r.seedDir()
	if err := r.reachable(root); err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	final := filepath.Join(root, "mypy-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, seedComplete)); err == nil {
		r.logger.Info("mypy cache seed reused", "dir", final)
		return final, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	work, err := os.MkdirTemp(root, "build-mypy-")
	if err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	defer os.RemoveAll(work)
	start := time.Now()
	dir, mod := filepath.Join(work, "cache"), filepath.Join(work, "src")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(mod, "qlp_mypy_seed.py"), []byte(mypySeedSource), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	args := append(append([]string{"-I", "-m", "mypy"}, MypyFlags()...), "qlp_mypy_seed.py")
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = mod
	cmd.Env = []string{"PATH=" + path, "HOME=" + mod, "TMPDIR=" + mod, "LANG=C.UTF-8", "MYPY_CACHE_DIR=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		waitGroupGone(cmd.Process.Pid, 10*time.Second)
	}
	if err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache (python3 -m mypy): %w: %s", err, lastLines(string(out), 5))
	}
	if err := installSeed(dir, final); err != nil {
		return "", fmt.Errorf("sandbox: seed mypy cache: %w", err)
	}
	r.logger.Info("mypy cache seed built", "dir", final, "duration", time.Since(start).Round(time.Millisecond))
	return final, nil
}
