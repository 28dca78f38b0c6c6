package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// TestAzureErrorsAreCleanAndKeepTheirContext: an SDK error becomes one line
// without a SAS signature, the context added around it survives, and the
// SDK's error stays reachable for errors.As and bloberror.HasCode.
func TestAzureErrorsAreCleanAndKeepTheirContext(t *testing.T) {
	a := &Azure{name: "capsules", where: "https://acct.blob.core.windows.net"}
	const sig = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
	transport := &url.Error{Op: "Put", URL: "https://acct.blob.core.windows.net/capsules/k?comp=block&sv=2025-11-05&sig=" + sig,
		Err: syscall.ECONNREFUSED}
	err := a.errorf("put", "k", fmt.Errorf("stage block 3: %w", clean(transport)))
	msg := err.Error()
	for _, want := range []string{`blob: azure container "capsules" at https://acct.blob.core.windows.net: put "k"`, "stage block 3", "connection refused", "[SAS withheld]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, sig) || strings.Contains(msg, "sig=") {
		t.Errorf("%q shows the SAS signature", msg)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v does not unwrap to the transport's error", err)
	}

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, "http://127.0.0.1:10000/acct/capsules/k?comp=blocklist", nil)
	resp := &http.Response{StatusCode: 400, Status: "400 The specified block list is invalid.", Request: req,
		Header: http.Header{"X-Ms-Error-Code": []string{"InvalidBlockList"}}, Body: io.NopCloser(strings.NewReader("<Error><Code>InvalidBlockList</Code></Error>"))}
	sdkErr := runtime.NewResponseError(resp)
	err = a.errorf("put", "k", fmt.Errorf("commit block list: its blocks are gone: %w", clean(sdkErr)))
	msg = err.Error()
	want := `blob: azure container "capsules" at https://acct.blob.core.windows.net: put "k": commit block list: its blocks are gone: PUT http://127.0.0.1:10000/acct/capsules/k: 400 InvalidBlockList`
	if msg != want {
		t.Errorf("error = %q\nwant    %q", msg, want)
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) || !bloberror.HasCode(err, bloberror.InvalidBlockList) {
		t.Errorf("%v does not unwrap to the SDK's response error", err)
	}
	if clean(clean(sdkErr)).Error() != clean(sdkErr).Error() {
		t.Error("cleaning twice changes the error")
	}
}
