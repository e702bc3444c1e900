package main

// A storage provisioner for clusters without storage: each PersistentVolumeClaim of a
// StorageClass whose provisioner is ours gets a PersistentVolume bound to it (the
// PersistentVolume controller in kube-controller-manager does the binding); a released volume
// of ours is deleted. The volumes are hostPath volumes nothing mounts: the sandbox's nodes are
// simulated, so what matters is that claims bind and pods that use them schedule.

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const provisionedBy = "pv.kubernetes.io/provisioned-by"

func runProvisioner(args []string) int {
	flags := flag.NewFlagSet("provisioner", flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of a user that may manage PVs (required)")
	name := flags.String("name", "kubefoundry.io/sandbox", "the provisioner name StorageClasses give")
	every := flags.Duration("interval", time.Second, "how often to look for claims")
	health := flags.String("health-address", "", "serve /healthz here (host:port) once running")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "testcluster provisioner: --kubeconfig is required")
		return 2
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fail(err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *health != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		server := &http.Server{Addr: *health, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = server.ListenAndServe() }()
		defer server.Close()
	}
	fmt.Fprintf(os.Stderr, "testcluster provisioner: provisioning for StorageClasses of %s\n", *name)
	for {
		if err := provision(ctx, client, *name); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "testcluster provisioner: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(*every):
		}
	}
}

// provision makes one pass: a volume for every pending claim of our classes, and deletes our
// released volumes.
func provision(ctx context.Context, client kubernetes.Interface, name string) error {
	classes, err := client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ours := map[string]corev1.PersistentVolumeReclaimPolicy{}
	for _, class := range classes.Items {
		if class.Provisioner == name {
			policy := corev1.PersistentVolumeReclaimDelete
			if class.ReclaimPolicy != nil {
				policy = *class.ReclaimPolicy
			}
			ours[class.Name] = policy
		}
	}
	claims, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		claim := &claims.Items[i]
		if claim.Spec.StorageClassName == nil || claim.Spec.VolumeName != "" ||
			claim.DeletionTimestamp != nil || claim.Status.Phase != corev1.ClaimPending {
			continue
		}
		policy, ok := ours[*claim.Spec.StorageClassName]
		if !ok {
			continue
		}
		if err := createVolume(ctx, client, claim, name, policy); err != nil {
			return err
		}
	}
	volumes, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, volume := range volumes.Items {
		if volume.Annotations[provisionedBy] == name &&
			volume.Status.Phase == corev1.VolumeReleased &&
			volume.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			err := client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			fmt.Fprintf(os.Stderr, "testcluster provisioner: deleted released %s\n", volume.Name)
		}
	}
	return nil
}

func createVolume(
	ctx context.Context,
	client kubernetes.Interface,
	claim *corev1.PersistentVolumeClaim,
	name string,
	policy corev1.PersistentVolumeReclaimPolicy,
) error {
	volumeName := "pvc-" + string(claim.UID)
	volume := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        volumeName,
			Annotations: map[string]string{provisionedBy: name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              *claim.Spec.StorageClassName,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1",
				Kind:       "PersistentVolumeClaim",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/kubefoundry-sandbox/" + volumeName},
			},
		},
	}
	_, err := client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err == nil {
		fmt.Fprintf(os.Stderr, "testcluster provisioner: %s for %s/%s\n", volumeName, claim.Namespace, claim.Name)
	}
	return nil
}
