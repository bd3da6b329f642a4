package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/installer/doctor"
)

var doctorSummary = [2]string{
	"chẩn đoán cài đặt: tác tử, cổng, thư viện token, chứng thư, TSA, trình duyệt, tự khởi động",
	"diagnose the installation: agent, ports, token libraries, certificates, TSA, browsers, autostart",
}

// doctorTimeout bounds the whole run; each check has its own, shorter
// budget (package doctor), so this only stops a run that something wedged.
const doctorTimeout = time.Minute

// runDoctor is `kyso doctor`: the helpdesk's first questions, answered by
// package installer/doctor. Exit codes: 0 no error finding (warnings are
// fine), 1 at least one error finding, 2 usage.
func runDoctor(c *cli, args []string) int {
	fs := c.flagSet("doctor", [2]string{
		"Kiểm tra cài đặt kyso trên máy này và cho biết cách sửa từng vấn đề: tác tử có đang chạy và ở cổng nào,\n" +
			"cổng 19571/19572 có bị chương trình khác chiếm, thư viện PKCS#11 nào nạp được (và vì sao không),\n" +
			"token và chứng thư số (hạn dùng, chuỗi tin cậy), CA tin cậy, máy chủ dấu thời gian (--tsa-check),\n" +
			"chính sách Local Network Access của trình duyệt cho các trang trong chính sách, tự khởi động.\n" +
			"Chỉ --tsa-check dùng tới mạng. Biến KYSO_LANG=en để in bằng tiếng Anh.\n" +
			"Mã thoát: 0 không có lỗi (có thể có cảnh báo), 1 có ít nhất một lỗi, 2 sai cách dùng.",
		"Check this machine's kyso installation and say how to fix each problem: whether the agent runs and on\n" +
			"which port, whether another program holds port 19571/19572, which PKCS#11 libraries load (and why not),\n" +
			"tokens and certificates (expiry, chain of trust), trust anchors, the timestamp authority (--tsa-check),\n" +
			"the browsers' Local Network Access policies for the policy's sites, and start at login.\n" +
			"Only --tsa-check uses the network. KYSO_LANG=en prints in English.\n" +
			"Exit status: 0 no error (warnings are fine), 1 at least one error, 2 usage.",
	}, c.pick([2]string{
		"[--json] [--module ĐƯỜNG_DẪN]... [--no-discover] [--policy TỆP] [--config TỆP] [--tsa-check] [--instance-dir THƯ_MỤC] [--port P]",
		"[--json] [--module PATH]... [--no-discover] [--policy FILE] [--config FILE] [--tsa-check] [--instance-dir DIR] [--port P]",
	}))
	var modules, trust stringList
	asJSON := fs.Bool("json", false, c.pick([2]string{"in JSON theo lược đồ kyso.doctor/v1", "print JSON (schema kyso.doctor/v1)"}))
	fs.Var(&modules, "module", c.pick([2]string{"kiểm tra cả thư viện PKCS#11 này (lặp lại được)", "also check this PKCS#11 library (repeatable)"}))
	noDiscover := fs.Bool("no-discover", false, c.pick([2]string{"không tự tìm thư viện PKCS#11 ở thư mục chuẩn", "do not discover PKCS#11 libraries in the standard folders"}))
	policy := fs.String("policy", "", c.pick([2]string{"tệp chính sách thay cho chính sách của máy", "a policy file instead of the machine policy"}))
	config := fs.String("config", agent.DefaultUserConfigPath(), c.pick([2]string{"tệp cấu hình của người dùng", "the user's configuration file"}))
	fs.Var(&trust, "trust", c.pick([2]string{"tệp CA gốc tin cậy thêm, như kyso run --trust (PEM, lặp lại được)", "extra trusted root CAs, as for kyso run --trust (PEM, repeatable)"}))
	tsaCheck := fs.Bool("tsa-check", false, c.pick([2]string{"xin thử một dấu thời gian từ máy chủ dấu thời gian (dùng mạng, tối đa 5 giây)", "ask the timestamp authority for a test timestamp (uses the network, at most 5 s)"}))
	instanceDir := fs.String("instance-dir", "", c.pick([2]string{"thư mục khóa một phiên bản của kyso run (mặc định theo người dùng)", "folder of kyso run's single-instance lock (default: per user)"}))
	port := fs.Int("port", bridge.DefaultPort, c.pick([2]string{"cổng chính của tác tử trên 127.0.0.1 (cổng mặc định kèm cổng dự phòng)", "the agent's primary port on 127.0.0.1 (the default one comes with its fallback)"}))
	if code, done := c.parse(fs, "doctor", args); done {
		return code
	}
	if *port <= 0 || *port > 65535 {
		c.usageError("doctor", fmt.Sprintf("--port %d: use 1 to 65535", *port))
		return exitUsage
	}
	ports := []int{*port}
	if fb := fallbackFor(*port); fb != 0 {
		ports = append(ports, fb)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	rep := doctor.Run(ctx, doctor.Config{
		Version:     version,
		PolicyPath:  *policy,
		ConfigPath:  *config,
		Modules:     modules,
		Discover:    !*noDiscover,
		AuditDir:    defaultAuditDir(),
		TrustFiles:  trust,
		TSACheck:    *tsaCheck,
		Ports:       ports,
		InstanceDir: *instanceDir,
	})
	var err error
	if *asJSON {
		err = rep.WriteJSON(c.stdout, c.lang)
	} else {
		err = rep.WriteText(c.stdout, c.lang)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: %v\n", err)
		return exitFailure
	}
	return rep.ExitCode()
}
