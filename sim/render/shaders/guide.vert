#version 330 core
// Scope-guide geometry (scope tube, colon outline) under an orthographic camera.
layout(location = 0) in vec3 a_position;
layout(location = 1) in vec3 a_normal;
uniform mat4 u_view;
uniform mat4 u_proj;
out vec3 v_normal_eye;
out float v_depth_eye;
void main() {
    vec4 e = u_view * vec4(a_position, 1.0);
    v_normal_eye = mat3(u_view) * a_normal;
    v_depth_eye = -e.z;
    gl_Position = u_proj * e;
}
