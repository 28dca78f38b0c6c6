package blob

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	"github.com/quantumlayer/qlp/internal/settings"
)

// Backend names.
const (
	BackendLocal = "local"
	BackendAzure = "azure"
	BackendS3    = "s3"
)

// Config chooses and configures the blob store.
type Config struct {
	// Backend is local (default), azure or s3.
	Backend string
	// Dir is the local backend's directory; empty lets the caller choose
	// (the root configuration puts it under the data directory).
	Dir string
	// PartSize: larger objects go as several parts (S3 multipart upload,
	// Azure blocks), each held in memory while it is sent.
	PartSize int64
	// Endpoint is the service URL of Azure (default from Account) or of
	// an S3-compatible server (default AWS).
	Endpoint string
	// Azure.
	Account    string
	Container  string
	AccountKey string
	SASToken   string
	// S3.
	Bucket          string
	Region          string
	PathStyle       bool
	AccessKeyID     string
	SecretAccessKey string
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{Backend: BackendLocal, PartSize: 16 << 20}
}

// Settings binds the configuration to YAML keys under "blob." and to
// QLP_BLOB_* environment variables.
func (c *Config) Settings() []settings.Setting {
	s := func(key, env, help string, secret bool, v settings.Value) settings.Setting {
		return settings.Setting{Key: "blob." + key, Env: "QLP_BLOB_" + env, Help: help, Secret: secret, Value: v}
	}
	return []settings.Setting{
		s("backend", "BACKEND", "where capsule archives and backups are kept: local (a directory), azure (Azure Blob Storage) or s3 (S3 or an S3-compatible server)", false, settings.String(&c.Backend)),
		s("dir", "DIR", "local backend: directory of the objects (default: blobs under the data directory)", false, settings.String(&c.Dir)),
		s("part_size", "PART_SIZE", "azure and s3: objects larger than this are uploaded in parts of this size (5MiB..4000MiB), each held in memory while it is sent", false, settings.Int64(&c.PartSize)),
		s("endpoint", "ENDPOINT", "azure: blob service URL (default https://ACCOUNT.blob.core.windows.net/); s3: URL of an S3-compatible server (default AWS)", false, settings.String(&c.Endpoint)),
		s("account", "ACCOUNT", "azure: storage account name", false, settings.String(&c.Account)),
		s("container", "CONTAINER", "azure: container of the objects (it must exist)", false, settings.String(&c.Container)),
		s("account_key", "ACCOUNT_KEY", "azure: the storage account's shared key; with neither it nor a SAS token, Azure's default credentials (workload or managed identity)", true, settings.String(&c.AccountKey)),
		s("sas_token", "SAS_TOKEN", "azure: a shared access signature (its query string) instead of the account key", true, settings.String(&c.SASToken)),
		s("bucket", "BUCKET", "s3: bucket of the objects (it must exist)", false, settings.String(&c.Bucket)),
		s("region", "REGION", "s3: the bucket's region (us-east-1 for most S3-compatible servers)", false, settings.String(&c.Region)),
		s("path_style", "PATH_STYLE", "s3: address the bucket as a path (endpoint/bucket/key), as S3-compatible servers usually want", false, settings.Bool(&c.PathStyle)),
		s("access_key_id", "ACCESS_KEY_ID", "s3: access key id; empty uses AWS's default credentials (environment, web identity, instance role)", false, settings.String(&c.AccessKeyID)),
		s("secret_access_key", "SECRET_ACCESS_KEY", "s3: secret access key of access_key_id", true, settings.String(&c.SecretAccessKey)),
	}
}

// Part-size bounds: S3's smallest part, Azure's largest block.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 4000 << 20
)

var (
	azureContainerName = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	azureAccountName   = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	s3BucketName       = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// Validate reports the first setting that is wrong for the chosen backend,
// by name.
func (c *Config) Validate() error {
	list := c.Settings()
	bad := func(key, format string, args ...any) error {
		return settings.Invalid(list, "blob."+key, format, args...)
	}
	name := func(key string) string { return settings.NameOf(list, "blob."+key) }
	switch c.Backend {
	case BackendLocal:
		return nil
	case BackendAzure, BackendS3:
	default:
		return bad("backend", "%q is not local, azure or s3", c.Backend)
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		return bad("part_size", "%d is outside %d..%d (5MiB..4000MiB)", c.PartSize, MinPartSize, MaxPartSize)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("endpoint", "%q is not an http(s) URL", c.Endpoint)
		}
		if u.User != nil {
			return bad("endpoint", "must not hold credentials (use the key settings)")
		}
	}
	if c.Backend == BackendAzure {
		switch {
		case c.Container == "":
			return bad("container", "required for the azure backend")
		case len(c.Container) < 3 || len(c.Container) > 63 || !azureContainerName.MatchString(c.Container):
			return bad("container", "%q is not an Azure container name (3-63 lowercase letters, digits and single hyphens)", c.Container)
		case c.Account == "":
			return bad("account", "required for the azure backend")
		case !azureAccountName.MatchString(c.Account):
			return bad("account", "%q is not an Azure storage account name (3-24 lowercase letters and digits)", c.Account)
		case c.AccountKey != "" && c.SASToken != "":
			return fmt.Errorf("%s and %s: set one, not both", name("account_key"), name("sas_token"))
		}
		return nil
	}
	switch {
	case c.Bucket == "":
		return bad("bucket", "required for the s3 backend")
	case !s3BucketName.MatchString(c.Bucket):
		return bad("bucket", "%q is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)", c.Bucket)
	case c.Region == "":
		return bad("region", "required for the s3 backend (the bucket's region; us-east-1 for most S3-compatible servers)")
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return fmt.Errorf("%s and %s: set both, or neither to use AWS's default credentials", name("access_key_id"), name("secret_access_key"))
	}
	return nil
}

// Open validates the configuration and opens the store it names. It makes
// no request to a remote backend: call Ping to check it is reachable.
func Open(ctx context.Context, c Config) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Backend {
	case BackendAzure:
		return OpenAzure(AzureOptions{Account: c.Account, Container: c.Container, Endpoint: c.Endpoint,
			AccountKey: c.AccountKey, SASToken: c.SASToken, PartSize: c.PartSize})
	case BackendS3:
		return OpenS3(ctx, S3Options{Bucket: c.Bucket, Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle,
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, PartSize: c.PartSize})
	default:
		if c.Dir == "" {
			return nil, settings.Invalid(c.Settings(), "blob.dir", "no directory for the local backend")
		}
		return OpenLocal(c.Dir)
	}
}
